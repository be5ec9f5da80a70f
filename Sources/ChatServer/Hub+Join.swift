import ChatCore
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
                shardIndex: shardIndex, since: since, maxMembers: maxMembers, maxRooms: maxRooms,
                historyWindow: historyWindow, resumeLimit: resumeLimit), done: done)
    }

    struct JoinRequest: Sendable {
        var shardIndex: Int
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
                onLoop { self.enter(room, bound.value.member, request, older: nil, done: bound.value.done) }
            case let .failure(refusal):
                let code: ErrorCode = refusal == .full ? .serverFull : .unavailable
                onLoop { bound.value.done(.failure(code)) }
            }
        }
    }

    /// Joins a room this node holds, on the member's loop. Asks for the room again when it
    /// was let go before its lock was taken; reads the store first when a resume needs it.
    private func enter(
        _ room: Room, _ member: Membership, _ request: JoinRequest, older: OlderPart?,
        done: @escaping (Result<Welcome, ErrorCode>) -> Void
    ) {
        let name = member.session.name
        let shardIndex = request.shardIndex
        enum Entered {
            case retired, full
            case read(after: UInt64)
            case entered([ChatMessage], UInt64, Int)
        }
        let entered: Entered = room.lock.withLock {
            if room.retired {
                room.state.stoppedEntering(stillComing: false)
                return .retired
            }
            if room.state.isFull(maxMembers: request.maxMembers) {
                room.state.stoppedEntering(stillComing: false)
                return .full
            }
            if let since = request.since, let after = storeGapLocked(room, since: since, older: older, limit: request.resumeLimit) {
                room.state.stoppedEntering(stillComing: true)  // still on its way in
                return .read(after: after)
            }
            guard case let .entered(joinEpoch, local) = room.state.enter(shard: shardIndex, maxMembers: request.maxMembers) else {
                return .full
            }
            // Deliveries already queued for this loop carry older epochs and skip the newcomer:
            // it gets those messages from the history snapshot instead, exactly once.
            member.joinEpoch = joinEpoch
            let snapshot = Entered.entered(room.state.history.messages, storedSeqLocked(room), local)
            broadcastLocked(room, event: .presence(room: room.name, message: "\(name) joined", online: room.state.total))
            return snapshot
        }
        let (window, lastSeq, local): ([ChatMessage], UInt64, Int)
        switch entered {
        case .retired:
            return join(member, request, done: done)
        case .full:
            retireIfIdle(room)
            return done(.failure(.roomFull))
        case let .read(after):
            // Read off the loop, then try again: what arrived meanwhile is read too, until the
            // window and what was read meet (or the store fails: not recovered).
            let loop = shards[shardIndex].loop
            let bound = NIOLoopBound((member: member, done: done), eventLoop: loop)
            Task {
                let part = await readPart(room, after: after, adding: older, since: request.since ?? 0, limit: request.resumeLimit)
                loop.execute { self.enter(room, bound.value.member, request, older: part, done: bound.value.done) }
            }
            return
        case let .entered(w, s, l): (window, lastSeq, local) = (w, s, l)
        }
        tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) joined"))
        member.entered = room
        shards[shardIndex].shard.value.add(member)
        guard let since = request.since else { return done(.success(Welcome(messages: window, recovered: nil))) }
        done(.success(ResumePlan.welcome(since: since, window: window, lastSeq: lastSeq, older: older)))
    }

    /// `ResumePlan.readNeeded` for this room now. Call under the room's lock.
    private func storeGapLocked(_ room: Room, since: UInt64, older: OlderPart?, limit: Int) -> UInt64? {
        ResumePlan.readNeeded(since: since, older: older, limit: limit, room: resumeViewLocked(room))
    }

    /// The room as a resume sees it. Call under the room's lock.
    private func resumeViewLocked(_ room: Room) -> ResumePlan.Room {
        ResumePlan.Room(
            windowFirst: room.state.history.first?.seq, lastStored: storedSeqLocked(room), delivered: room.state.seq,
            hasStore: store != nil, storeNumbersMessages: storeNumbersMessages)
    }

    /// The last number of a room that the store holds and the window has seen: in a cluster
    /// the last delivered here; on one node the last committed (later ones are still in the
    /// committer, and reach a new member live).
    private func storedSeqLocked(_ room: Room) -> UInt64 {
        room.state.storedSeq(storeNumbersMessages: storeNumbersMessages, hasStore: store != nil)
    }

    /// `older` with the stored messages after `after` added, up to the room's last number now.
    private func readPart(_ room: Room, after: UInt64, adding older: OlderPart?, since: UInt64, limit: Int) async -> OlderPart {
        if older == nil { await catchUpIfBehind(room, since: since) }
        let lastStored = room.lock.withLock { storedSeqLocked(room) }
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
            let (after, window, lastSeq) = room.lock.withLock {
                (storeGapLocked(room, since: since, older: older, limit: limit), room.state.history.messages, storedSeqLocked(room))
            }
            guard let after else { return ResumePlan.welcome(since: since, window: window, lastSeq: lastSeq, older: older) }
            older = await readPart(room, after: after, adding: older, since: since, limit: limit)
        }
    }

    /// Older messages on request (`history` with `before`).
    func older(room: String, before: UInt64, limit: Int) async -> [ChatMessage] {
        guard let store else {
            guard let room = existingRoom(room) else { return [] }
            return room.lock.withLock { Array(room.state.history.messages.filter { $0.seq < before }.suffix(limit)) }
        }
        return (try? await store.messages(room: room, before: before, limit: limit)) ?? []
    }

    /// Removes a membership from its room and tells the others. Runs on the session's loop.
    func leave(_ member: Membership, shardIndex: Int) {
        shards[shardIndex].shard.value.remove(member)
        guard let room = member.entered else { return }
        member.entered = nil
        let name = member.session.name
        let local = room.lock.withLock {
            let local = room.state.leave(shard: shardIndex)
            broadcastLocked(room, event: .presence(room: room.name, message: "\(name) left", online: room.state.total))
            return local
        }
        tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) left"))
        if local == 0 { retireIfIdle(room) }
    }
}
