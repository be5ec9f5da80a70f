import ChatCore
import NIOCore

/// Read markers (`ReadMarkers`): the identity's position in each room, kept in the store
/// under its author key, and told to all of its connections.
extension ChatSession {
    /// A `read` of the room up to `seq`. The store is written off the loop; the answer is the
    /// position stored (a `read` event), and the identity's other connections, on every node,
    /// are told when it moved.
    func markRead(room: String, seq: UInt64) {
        guard hub.store != nil else { return refuse(.unavailable) }
        guard let entered = memberships.first(where: { $0.room == room })?.entered else { return refuse(.notJoined) }
        let storage = hub.storage
        let position = ReadMarkers.position(seq, lastStored: entered.lock.withLock { entered.state.storedSeq(storage) })
        // Nothing stored in the room yet: there is nothing to have read.
        guard position > 0 else { return send(.reads(.read(room: room, seq: 0)), flush: true) }
        guard let now = readWrites.requested(room: room, seq: position) else { return }
        writeReadMarker(room: room, seq: now)
    }

    private func writeReadMarker(room: String, seq: UInt64) {
        guard let store = hub.store, let loop = context?.eventLoop else { return }
        let reader = authorKey
        let this = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: ReadMark?.self)
        promise.completeWithTask {
            guard let stored = try? await store.markRead(reader: reader, room: room, seq: seq) else { return nil }
            return ReadMark(seq: stored.seq, moved: stored.moved)
        }
        promise.futureResult.whenSuccess { this.value.readMarkerWritten(room: room, $0) }
    }

    private func readMarkerWritten(room: String, _ mark: ReadMark?) {
        if let mark {
            if mark.moved { hub.tellReader(authorKey, room: room, seq: mark.seq, except: ObjectIdentifier(self), announce: true) }
            send(.reads(.read(room: room, seq: mark.seq)), flush: true)
        } else {
            hub.metrics.errors(ErrorCode.unavailable.rawValue).increment()
            // Reads are merged while one is stored: this answers several, so it names none.
            send(.error(code: .unavailable, message: "The read position could not be stored. Try again shortly."), flush: true)
        }
        if let next = readWrites.written(room: room, stored: mark?.seq) { writeReadMarker(room: room, seq: next) }
    }

    /// Right after a room's welcome: the identity's position in it and the messages unread,
    /// counted to the room's last stored number now (those after it reach this connection
    /// live). Requests do not wait for it: a client that connects, sends and closes is not
    /// held up by a count it may not even read.
    func tellUnread(_ member: Membership) {
        guard let store = hub.store, let room = member.entered, let loop = context?.eventLoop else { return }
        let storage = hub.storage
        let (name, reader) = (member.room, authorKey)
        let through = room.lock.withLock { room.state.storedSeq(storage) }
        let this = NIOLoopBound(self, eventLoop: loop)
        Task {
            guard
                let state = try? await store.readState(reader: reader, room: name, through: through, limit: ReadMarkers.unreadCap + 1)
            else { return }
            let event = ServerEvent.reads(.unread(ReadState(room: name, readSeq: state.readSeq, counted: state.unread, lastSeq: through)))
            loop.execute {
                guard this.value.context != nil, !this.value.closing else { return }
                this.value.send(event, flush: true)
            }
        }
    }

    /// `rooms`: the connection's rooms, in the order joined, then the other rooms the identity
    /// has read that it may still read, most recently read first.
    func answerRooms() {
        guard let store = hub.store else { return refuse(.unavailable) }
        let storage = hub.storage
        let joined: [(room: String, through: UInt64)] = memberships.compactMap { member in
            member.entered.map { room in (member.room, room.lock.withLock { room.state.storedSeq(storage) }) }
        }
        let (reader, identity, rules) = (authorKey, identity, settings.rules)
        let limit = ReadMarkers.unreadCap + 1
        answerFromStoreIfAny {
            do {
                var states: [ReadState] = []
                for (room, through) in joined {
                    let state = try await store.readState(reader: reader, room: room, through: through, limit: limit)
                    states.append(ReadState(room: room, readSeq: state.readSeq, counted: state.unread, lastSeq: through))
                }
                let names = Set(joined.map(\.room))
                let others = try await store.readMarkers(reader: reader, limit: ReadMarkers.otherRoomsListed + names.count)
                    .filter {
                        !names.contains($0.room) && Authorization.read(identity, room: $0.room, rule: rules.rule(for: $0.room)) == nil
                    }
                    .prefix(ReadMarkers.otherRoomsListed)
                for (room, _) in others {
                    let state = try await store.readState(reader: reader, room: room, through: .max, limit: limit)
                    states.append(ReadState(room: room, readSeq: state.readSeq, counted: state.unread, lastSeq: nil, joined: false))
                }
                return .reads(.rooms(states))
            } catch {
                return .error(code: .unavailable, message: "Read positions are unavailable. Try again shortly.")
            }
        }
    }

    /// `answerFromStore` for a read whose failure may go unanswered.
    private func answerFromStoreIfAny(_ read: @escaping @Sendable () async -> ServerEvent?) {
        guard let loop = context?.eventLoop else { return }
        awaitingStore = true
        let this = NIOLoopBound(self, eventLoop: loop)
        Task {
            let event = await read()
            loop.execute { this.value.storeAnsweredIfAny(event) }
        }
    }

    private func storeAnsweredIfAny(_ event: ServerEvent?) {
        awaitingStore = false
        guard let context else { return }
        if let event { send(event.answering(answering), flush: true) }
        resumeReadingIfDue(context)
    }
}

/// A position as the store took it.
struct ReadMark: Sendable {
    var seq: UInt64
    var moved: Bool
}
