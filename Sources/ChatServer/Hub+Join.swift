import ChatCore
import Foundation
import NIOCore

/// Joining and leaving rooms, and resuming: what a member is sent before anything else of
/// the room, read from the window or, for an older `since`, from the store first.
extension Hub {
    typealias Welcome = ResumePlan.Welcome
    typealias OlderPart = ResumePlan.OlderPart

    /// Adds a membership to its room unless the room is at `maxMembers` (0: no limit), or is
    /// new and this node holds `maxRooms`. `done` is told on the member's loop the history
    /// the member must be sent before anything else of the room, or why it may not join.
    /// A held room whose window covers the resume is joined before this returns; otherwise
    /// the store is read first, off the loop, and only this member waits for it.
    func join(
        _ member: Membership, shardIndex: Int, since: UInt64?, maxMembers: Int, maxRooms: Int = .max,
        historyWindow: Int, resumeLimit: Int, done: @escaping (Result<Welcome, ErrorCode>) -> Void
    ) {
        join(
            member,
            JoinRequest(
                shardIndex: shardIndex, reader: member.session.authorKey, since: since, maxMembers: maxMembers,
                maxRooms: maxRooms, historyWindow: historyWindow, resumeLimit: resumeLimit), done: done)
    }

    struct JoinRequest: Sendable {
        var shardIndex: Int
        /// The joiner's author key, for its own reactions among what it is sent (`ownReactions`).
        var reader = ""
        var since: UInt64?
        var maxMembers: Int
        var maxRooms: Int
        var historyWindow: Int
        var resumeLimit: Int
    }

    private func join(_ member: Membership, _ request: JoinRequest, done: @escaping (Result<Welcome, ErrorCode>) -> Void) {
        let loop = shards[request.shardIndex].loop
        let bound = NIOLoopBound((member: member, done: done), eventLoop: loop)
        withRoom(member.room, historyWindow: request.historyWindow, maxRooms: request.maxRooms) { [self] found in
            let onLoop: @Sendable (@escaping @Sendable () -> Void) -> Void = { body in
                if loop.inEventLoop { body() } else { loop.execute(body) }
            }
            switch found {
            case let .success(room):
                room.lock.withLock { room.state.startEntering() }
                onLoop { self.enter(room, bound.value.member, request, older: nil, own: nil, done: bound.value.done) }
            case let .failure(refusal):
                let code: ErrorCode = refusal == .full ? .serverFull : .unavailable
                onLoop { bound.value.done(.failure(code)) }
            }
        }
    }

    /// Joins a room this node holds, on the member's loop. Asks for the room again when it
    /// was let go before its lock was taken; reads the store first when a resume needs it.
    private func enter(
        _ room: Room, _ member: Membership, _ request: JoinRequest, older: OlderPart?, own: [UInt64: [String]]?,
        done: @escaping (Result<Welcome, ErrorCode>) -> Void
    ) {
        // The joiner's own reactions among the window's are read first, off the loop, when
        // there are reactions in it: what it is sent before anything else shows them.
        if own == nil, let store, let reacted = room.lock.withLock({ room.state.history.reacted }) {
            let loop = shards[request.shardIndex].loop
            let bound = NIOLoopBound((member: member, done: done), eventLoop: loop)
            Task {
                let own = (try? await store.ownReactions(room: room.name, reactor: request.reader, seqs: reacted)) ?? [:]
                loop.execute { self.enter(room, bound.value.member, request, older: older, own: own, done: bound.value.done) }
            }
            return
        }
        let name = member.session.name
        let joining = RoomState.Joining(
            shard: request.shardIndex, maxMembers: request.maxMembers, since: request.since,
            resumeLimit: request.resumeLimit, older: older)
        let (step, presence): (RoomState.JoinStep?, PresenceBatch.Step?) = room.lock.withLock {
            if room.retired {
                room.state.abandonEntering()
                return (nil, nil)
            }
            let step = room.state.join(joining, storage: storage)
            guard case let .entered(joinEpoch, local, _) = step else { return (step, nil) }
            // Deliveries already queued for this loop carry older epochs and skip the
            // newcomer: it gets those messages from its welcome instead, exactly once.
            member.joinEpoch = joinEpoch
            // Under the lock, as messages are handed over: the outbox has joins, leaves and
            // messages in the order the room saw them (and `online` in step with it).
            tellWebhooks(.join, room: room.name, member: member, local: local)
            return (step, tellPresenceLocked(room, room.presence.joined(name, members: room.state.total)))
        }
        if case .gathered(startTimer: true) = presence { tellGatheredPresence(room, after: request.shardIndex) }
        switch step {
        case nil:
            join(member, request, done: done)
        case .full:
            retireIfIdle(room)
            done(.failure(.roomFull))
        case let .read(after):
            // Read off the loop, then try again: what arrived meanwhile is read too, until the
            // window and what was read meet (or the store fails: not recovered).
            let loop = shards[request.shardIndex].loop
            let bound = NIOLoopBound((member: member, done: done), eventLoop: loop)
            Task {
                let part = await readPart(room, after: after, adding: older, since: request.since ?? 0, limit: request.resumeLimit)
                loop.execute { self.enter(room, bound.value.member, request, older: part, own: own, done: bound.value.done) }
            }
        case let .entered(_, local, welcome):
            tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) joined"))
            member.entered = room
            shards[request.shardIndex].shard.value.add(member)
            done(.success(Self.personal(welcome, own: own ?? [:])))
        }
    }

    /// `welcome` for the reader whose reactions are `own`: its messages marked with them (and
    /// so no longer the window every joiner is sent).
    static func personal(_ welcome: Welcome, own: [UInt64: [String]]) -> Welcome {
        guard !own.isEmpty else { return welcome }
        var out = welcome
        out.messages = mine(welcome.messages, own: own)
        out.window = nil
        return out
    }

    static func mine(_ entries: [ChatMessage], own: [UInt64: [String]]) -> [ChatMessage] {
        entries.map { entry in
            guard entry.isMessage, let emoji = own[entry.seq] else { return entry }
            var marked = entry
            marked.mine = emoji.filter { e in entry.reactions.contains { $0.emoji == e } }
            return marked
        }
    }

    /// `entries` marked with `reader`'s own reactions, read from the store (a page of history,
    /// a catch-up).
    func markingOwnReactions(_ entries: [ChatMessage], room: String, reader: String) async -> [ChatMessage] {
        guard let store, let reacted = entries.reactedMessages else { return entries }
        let own = (try? await store.ownReactions(room: room, reactor: reader, seqs: reacted)) ?? [:]
        return Self.mine(entries, own: own)
    }

    /// `older` with the stored messages after `after` added, up to the room's last number now.
    private func readPart(_ room: Room, after: UInt64, adding older: OlderPart?, since: UInt64, limit: Int) async -> OlderPart {
        if older == nil { await catchUpIfBehind(room, since: since) }
        let lastStored = room.lock.withLock { room.state.storedSeq(storage) }
        switch ResumePlan.nextRead(older: older, after: after, lastStored: lastStored, since: since, limit: limit) {
        case let .done(part):
            return part
        case let .read(after, count):
            let rows = try? await store?.messages(room: room.name, after: after, limit: count)
            return ResumePlan.adding(rows, to: older, after: after, through: lastStored)
        }
    }

    /// A resume on request (`history` with `since`), for a connection already in the room.
    func catchUp(in room: Room, since: UInt64, limit: Int) async -> Welcome {
        var older: OlderPart?
        while true {
            let step = room.lock.withLock { room.state.resume(since: since, older: older, limit: limit, storage: storage) }
            switch step {
            case let .welcome(welcome): return welcome
            case let .read(after): older = await readPart(room, after: after, adding: older, since: since, limit: limit)
            }
        }
    }

    /// Older messages on request (`history` with `before`).
    func older(room: String, before: UInt64, limit: Int) async -> [ChatMessage] {
        guard let store else {
            guard let room = existingRoom(room) else { return [] }
            return room.lock.withLock { Array(room.state.history.messages.filter { $0.seq < before && $0.isMessage }.suffix(limit)) }
        }
        return (try? await store.messages(room: room, before: before, limit: limit)) ?? []
    }

    /// Removes a membership from its room and tells the others. Runs on the session's loop.
    func leave(_ member: Membership, shardIndex: Int) {
        shards[shardIndex].shard.value.remove(member)
        guard let room = member.entered else { return }
        member.entered = nil
        let name = member.session.name
        let (local, presence) = room.lock.withLock {
            let local = room.state.leave(shard: shardIndex)
            tellWebhooks(.leave, room: room.name, member: member, local: local)
            return (local, tellPresenceLocked(room, room.presence.left(name, members: room.state.total)))
        }
        if case .gathered(startTimer: true) = presence { tellGatheredPresence(room, after: shardIndex) }
        tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) left"))
        if local == 0 { retireIfIdle(room) }
    }

    /// A join or leave for the webhook outbox, and the room's occupancy on this node when it
    /// changes (the first member came, the last left). Called under the room's lock.
    private func tellWebhooks(_ type: WebhookEventType, room: String, member: Membership, local: Int) {
        guard let outbox = webhookEvents, !member.session.echo else { return }
        let changed = type == .join ? local == 1 : local == 0
        let occupancy: WebhookEventType = type == .join ? .roomOccupied : .roomVacated
        let wantsPresence = outbox.wants(type)
        let wantsOccupancy = changed && outbox.wants(occupancy)
        guard wantsPresence || wantsOccupancy else { return }
        let now = Date().timeIntervalSince1970
        var events: [WebhookEvent] = []
        if wantsOccupancy && type == .join { events.append(.occupancy(occupancy, room: room, at: now)) }
        if wantsPresence {
            let session = member.session
            events.append(
                .presence(
                    type, room: room, user: UserTarget.shown(userKey: session.identity.userKey, authorKey: session.authorKey),
                    name: session.name, online: local, at: now))
        }
        if wantsOccupancy && type == .leave { events.append(.occupancy(occupancy, room: room, at: now)) }
        // A message whose nonce is still being checked reaches the committer later: its
        // sender's leave waits for it (found by review: the leave went out first).
        if type == .leave, member.session.awaitingStore {
            member.session.deferredWebhookEvents.append(contentsOf: events)
        } else {
            outbox.add(events)
        }
    }

    /// `from` is typing: the room's other members here are told, and the other nodes.
    func typing(_ member: Membership, from: String) {
        guard let room = member.entered else { return }
        room.lock.withLock {
            broadcastLocked(
                room, event: .typing(room: room.name, from: from), ephemeral: true, except: ObjectIdentifier(member.session))
        }
        tellCluster(.typing(node: "", room: room.name, from: from))
    }

    /// Tells the room of a join or leave now, or leaves it gathered (`PresenceBatch`).
    private func tellPresenceLocked(_ room: Room, _ step: PresenceBatch.Step) -> PresenceBatch.Step {
        if case let .now(text) = step {
            broadcastLocked(room, event: .presence(room: room.name, message: text, online: room.state.total))
        }
        return step
    }

    /// One interval after a big room's first gathered change, on `shardIndex`'s loop: one
    /// event tells the room all of them, with the count at that moment.
    private func tellGatheredPresence(_ room: Room, after shardIndex: Int) {
        shards[shardIndex].loop.scheduleTask(in: .nanoseconds(PresenceBatch.intervalNanoseconds)) { [self] in
            room.lock.withLock {
                guard let text = room.presence.take(), !room.retired else { return }
                broadcastLocked(room, event: .presence(room: room.name, message: text, online: room.state.total))
            }
        }
    }
}
