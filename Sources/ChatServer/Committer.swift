import ChatCore
import ChatStore
import NIOConcurrencyHelpers

/// Makes messages durable before anyone sees them: publishers hand messages over (under
/// their room's lock, so each room's order is kept), and one worker task commits whatever
/// has gathered in a single batch, then has the hub broadcast it in order. While a batch is
/// being written the next one gathers: group commit, off the event loops.
///
/// The worker is also the hub's serial "store queue": jobs given to `async`/`run` run in
/// order with the commits, which is what keeps a shared room's numbering advancing in one
/// place (`Hub.deliverInOrder`).
final class Committer: Sendable {
    struct Entry: Sendable {
        /// As submitted; `stored` is what the store made of it (its sequence number when the
        /// store gives them out).
        var message: ChatMessage
        let room: Room
        /// Told the outcome on the worker (the sender's error event, the API's answer).
        let done: (@Sendable (Result<ChatMessage, any Error>) -> Void)?
    }

    private let store: any ChatStore
    private let worker = SerialWorker()
    private let gathered = NIOLockedValueBox<(pending: [Entry], draining: Bool)>(([], false))
    private let committed: @Sendable ([Entry]) async -> Void
    private let failed: @Sendable ([Entry], any Error) -> Void

    init(
        store: any ChatStore, committed: @escaping @Sendable ([Entry]) async -> Void,
        failed: @escaping @Sendable ([Entry], any Error) -> Void
    ) {
        self.store = store
        self.committed = committed
        self.failed = failed
    }

    func submit(_ entry: Entry) {
        let start = gathered.withLockedValue { g -> Bool in
            g.pending.append(entry)
            if g.draining { return false }
            g.draining = true
            return true
        }
        if start { worker.async { [self] in await drain() } }
    }

    private func drain() async {
        while true {
            let batch = gathered.withLockedValue { g -> [Entry] in
                let batch = g.pending
                g.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { g.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Entry]) async {
        do {
            let stored = try await store.append(batch.map(\.message))
            await finish(
                zip(batch, stored).map { entry, message in
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
            await finish(done)
            fail(lost, partial.underlying)
        } catch {
            fail(batch, error)
        }
    }

    private func finish(_ entries: [Entry]) async {
        await committed(entries)
        for entry in entries { entry.done?(.success(entry.message)) }
    }

    private func fail(_ entries: [Entry], _ error: any Error) {
        failed(entries, error)
        for entry in entries { entry.done?(.failure(error)) }
    }

    /// Runs `body` after everything submitted so far, without waiting for it.
    func async(_ body: @escaping @Sendable () async -> Void) {
        worker.async(body)
    }

    /// Runs `body` after everything submitted so far and returns what it returns (reads
    /// that must see committed state, and shutdown's final flush).
    func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        await worker.run(body)
    }
}
