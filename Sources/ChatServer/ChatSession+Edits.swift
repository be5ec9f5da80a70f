import ChatCore
import Foundation
import NIOCore

extension ChatSession {
    /// Moderators edit any message of their room; an author their own, within the window.
    /// The message is looked up on the store queue (after every message submitted before, so
    /// an edit right behind its message finds it); the edit is then published like a message,
    /// taking the room's next number, and every member gets `edited`.
    func requestEdit(seq: UInt64, text: String, room: String, isModerator: Bool) {
        let author = authorKey
        let window = settings.authorEditSeconds
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let actor = "\(name) (\(role.rawValue), connection \(id))"
        let (moderation, loop) = (self.moderation, context!.eventLoop)
        let this = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: Moderation.Lookup.self)
        promise.completeWithTask {
            await moderation.editTarget(room: room, seq: seq) { message in
                isModerator || message.isChangeable(by: author, windowSeconds: window, nowMilliseconds: now)
            }
        }
        // The session's later requests wait for the lookup (as for a store read), so that a
        // message sent right behind an edit is numbered after it, as it was sent.
        awaitingStore = true
        promise.futureResult.whenSuccess { lookup in
            this.value.editLookedUp(lookup, text: text, room: room, actor: isModerator ? actor : nil)
        }
    }

    private func editLookedUp(_ lookup: Moderation.Lookup, text: String, room: String, actor: String?) {
        awaitingStore = false
        guard let context else { return }
        defer { resumeReadingIfDue(context) }
        guard !closing else { return }
        switch lookup {
        case let .found(target):
            // The room may have been left while the message was looked up.
            guard roomList.contains(room) else { return sendError(.notJoined) }
            let audited = target.author != authorKey ? actor : nil
            if settings.publishURL.isEmpty {
                publishEdit(of: target, text: text, actor: audited)
            } else {
                // The backend that checks messages checks their edits too (`"edit": SEQ`).
                askPublishProxy(text, in: room, for: .edit(of: target, actor: audited))
            }
        case .notFound: sendError(.notFound)
        case .forbidden: sendError(.forbidden)
        case .failed: sendError(.unavailable)
        }
    }

    /// `actor` is set for a moderator's edit of another's message, which the audit log records.
    func publishEdit(of target: ChatMessage, text: String, actor: String?) {
        guard let loop = context?.eventLoop else { return }
        let this = NIOLoopBound(self, eventLoop: loop)
        let (moderation, nonce) = (moderation, answering)
        publishesInFlight += 1
        hub.publish(
            room: target.room, from: name, text: text, author: authorKey,
            editOf: MessageRef(seq: target.seq, id: target.id), historyWindow: settings.historyWindow
        ) { result in
            switch result {
            case let .success(stored):
                // A message deleted meanwhile was not edited (`ChatMessage.gone`).
                if let actor, !stored.deletion { Task { await moderation.recordEdit(of: target, actor: actor) } }
                loop.execute { this.value.publishSettled() }
            case .failure:
                loop.execute {
                    this.value.refuse(.unavailable, nonce: nonce)
                    this.value.publishSettled()
                }
            }
        }
    }
}
