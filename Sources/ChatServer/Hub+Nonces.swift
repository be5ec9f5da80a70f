import ChatCore

/// Messages with a nonce when there is a store (`MessageNonce`): the store is asked whether
/// the key was used, off the event loops, before a number is taken, so a duplicate never
/// costs one (SQLite numbers here, before the commit). Messages without a nonce never come
/// this way: no extra round trip for them.
extension Hub {
    typealias Done = @Sendable (Result<ChatMessage, any Error>) -> Void

    /// Numbers and submits `draft` once neither the store nor this room's messages in flight
    /// hold its key. `checked` is the room and ledger generation the store was last read at:
    /// a commit of a nonce in that room since then means reading it again.
    func publishUnique(
        _ draft: ChatMessage, checked: (room: Room, generation: UInt64)?, historyWindow: Int, maxRooms: Int, done: Done?
    ) {
        guard let nonce = draft.nonce, let store, let committer = committer.withLockedValue({ $0 }) else { return }
        let key = MessageNonce.Key(author: draft.author, nonce: nonce)
        withRoom(draft.room, historyWindow: historyWindow, maxRooms: maxRooms) { [self] found in
            let room: Room
            switch found {
            case let .success(held): room = held
            case let .failure(refusal): return done?(.failure(refusal)) ?? ()
            }
            let step: MessageNonce.Ledger<Done>.Step? = room.lock.withLock {
                if room.retired { return nil }
                // A read made while another `Room` held the name says nothing of this one's commits.
                let generation = checked.flatMap { $0.room === room ? $0.generation : nil }
                let step = room.nonces.admit(key, checked: generation, waiter: done ?? { _ in })
                guard step == .claimed else { return step }
                var message = draft
                if !storeNumbersMessages { message.seq = room.state.numberNext() }
                room.state.handedToCommitter()
                committer.submit(
                    Committer.Entry(
                        message: message, room: room,
                        done: { result in
                            // After the commit: a check from now on finds the message in the store.
                            let waiters = room.lock.withLock { room.nonces.release(key) }
                            done?(result)
                            for waiter in waiters { waiter(result) }
                        }))
                return step
            }
            switch step {
            case nil:
                publishUnique(draft, checked: nil, historyWindow: historyWindow, maxRooms: maxRooms, done: done)
            case .claimed, .waiting:
                break
            case let .check(generation):
                Task {
                    let original: ChatMessage?
                    do {
                        original = try await store.message(room: draft.room, author: draft.author, nonce: nonce)
                    } catch {
                        return done?(.failure(error)) ?? ()
                    }
                    if let original { return done?(.success(original)) ?? () }
                    publishUnique(
                        draft, checked: (room, generation), historyWindow: historyWindow, maxRooms: maxRooms, done: done)
                }
            }
        }
    }
}
