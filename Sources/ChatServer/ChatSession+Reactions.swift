import ChatCore
import NIOCore

extension ChatSession {
    /// Adds or removes the sender's reaction. Like an edit, a reaction change is an entry of
    /// the room's log: it takes the room's next number, every member gets `reactions` with
    /// the message's counts after it, and a resume carries it. The session's later requests
    /// wait until it is stored, so that its changes of one message never share a commit (the
    /// store applies a batch's changes to the reactions as of the batch's start).
    func requestReaction(seq: UInt64, emoji: String, added: Bool, room: String) {
        guard hub.store != nil else { return sendError(.unavailable) }
        let (moderation, loop) = (self.moderation, context!.eventLoop)
        let this = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: Moderation.Lookup.self)
        promise.completeWithTask { await moderation.editTarget(room: room, seq: seq) { _ in true } }
        awaitingStore = true
        promise.futureResult.whenSuccess { lookup in
            this.value.reactionTargetFound(lookup, change: ReactionChange(emoji: emoji, added: added), room: room)
        }
    }

    private func reactionTargetFound(_ lookup: Moderation.Lookup, change: ReactionChange, room: String) {
        guard case let .found(target) = lookup else {
            awaitingStore = false
            if let context { resumeReadingIfDue(context) }
            return sendError(lookup == .forbidden ? .forbidden : lookup == .notFound ? .notFound : .unavailable)
        }
        let known = target.reactions.contains { $0.emoji == change.emoji }
        // Checked against the counts when asked: two nodes adding new emoji at once may pass
        // the limit by one each.
        if change.added, !known, target.reactions.count >= settings.maxReactionsPerMessage {
            awaitingStore = false
            if let context { resumeReadingIfDue(context) }
            return sendError(.tooManyReactions)
        }
        guard roomList.contains(room), !closing else {
            awaitingStore = false
            if let context { resumeReadingIfDue(context) }
            return sendError(.notJoined)
        }
        let loop = context!.eventLoop
        let this = NIOLoopBound(self, eventLoop: loop)
        hub.publish(
            room: target.room, from: name, text: change.emoji, author: authorKey, editOf: MessageRef(seq: target.seq, id: target.id),
            reaction: change, historyWindow: settings.historyWindow
        ) { result in
            loop.execute {
                let session = this.value
                session.awaitingStore = false
                if case .failure = result { session.refuse(.unavailable) }
                if let context = session.context { session.resumeReadingIfDue(context) }
            }
        }
    }
}
