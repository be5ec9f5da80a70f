import ChatCore
import ChatStore
import Dispatch
import NIOConcurrencyHelpers

/// Makes messages durable before anyone sees them: publishers hand messages over (under
/// their room's lock, so each room's order is kept), and one store queue commits whatever
/// has gathered in a single batch, then has the hub broadcast it in order. While a batch is
/// being written the next one gathers: group commit, off the event loops.
final class Committer: @unchecked Sendable {
    struct Entry {
        /// As submitted; `stored` is what the store made of it (its sequence number when the
        /// store gives them out).
        var message: ChatMessage
        let room: Room
        /// Told the outcome on the store queue (the sender's error event, the API's answer).
        let done: (@Sendable (Result<ChatMessage, any Error>) -> Void)?
    }

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

    func submit(_ entry: Entry) {
        let start = lock.withLock { () -> Bool in
            pending.append(entry)
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
            commit(batch)
        }
    }

    private func commit(_ batch: [Entry]) {
        do {
            let stored = try store.append(batch.map(\.message))
            finish(zip(batch, stored).map { entry, message in
                var entry = entry
                entry.message = message
                return entry
            })
        } catch let partial as PartialAppend {
            var done: [Entry] = []
            var lost: [Entry] = []
            for (entry, message) in zip(batch, partial.stored) {
                if let message {
                    var entry = entry
                    entry.message = message
                    done.append(entry)
                } else {
                    lost.append(entry)
                }
            }
            finish(done)
            fail(lost, partial.underlying)
        } catch {
            fail(batch, error)
        }
    }

    private func finish(_ entries: [Entry]) {
        committed(entries)
        for entry in entries { entry.done?(.success(entry.message)) }
    }

    private func fail(_ entries: [Entry], _ error: any Error) {
        failed(entries, error)
        for entry in entries { entry.done?(.failure(error)) }
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
