import ChatCore
import ChatStore
import Dispatch
import NIOConcurrencyHelpers

/// Makes messages durable before anyone sees them: publishers hand messages over (under
/// their room's lock, so each room's order is kept), and one store queue commits whatever
/// has gathered in a single transaction, then has the hub broadcast the batch in order.
/// While a batch is being written the next one gathers: group commit, off the event loops.
final class Committer: @unchecked Sendable {
    typealias Entry = (message: ChatMessage, room: Room)

    private let store: any ChatStore
    private let queue = DispatchQueue(label: "chatd.store")
    private let lock = NIOLock()
    private var pending: [Entry] = []  // guarded by `lock`
    private var draining = false       // guarded by `lock`
    private let committed: @Sendable ([Entry]) -> Void
    private let failed: @Sendable ([Entry], any Error) -> Void

    init(store: any ChatStore, committed: @escaping @Sendable ([Entry]) -> Void,
         failed: @escaping @Sendable ([Entry], any Error) -> Void) {
        self.store = store
        self.committed = committed
        self.failed = failed
    }

    func submit(_ message: ChatMessage, room: Room) {
        let start = lock.withLock { () -> Bool in
            pending.append((message, room))
            if draining { return false }
            draining = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            let batch = lock.withLock { () -> [Entry] in
                let batch = pending
                pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { draining = false }
                return batch
            }
            if batch.isEmpty { return }
            do {
                try store.append(batch.map(\.message))
                committed(batch)
            } catch {
                failed(batch, error)
            }
        }
    }

    /// Runs `body` on the store queue after everything submitted so far, without waiting.
    func async(_ body: @escaping @Sendable () -> Void) {
        queue.async(execute: body)
    }

    /// Runs `body` on the store queue, after everything submitted so far (reads that must
    /// see committed state, and shutdown's final flush).
    func sync<T>(_ body: () throws -> T) rethrows -> T {
        try queue.sync(execute: body)
    }
}
