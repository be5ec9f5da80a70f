import ChatCore
import ChatStore
import Dispatch
import NIOConcurrencyHelpers

/// Makes messages durable before anyone sees them: publishers hand messages over (under
/// their room's lock, so each room's order is kept), and the store queue commits whatever
/// has gathered in a single batch, then has the hub broadcast it in order. While a batch is
/// being written the next one gathers: group commit, off the event loops.
///
/// The queue is a thread of its own, not a task: a store that can append on its caller's
/// thread (SQLite, `BlockingAppend`) is written to right here, with no hop to another thread
/// and back per batch. A store that cannot (PostgreSQL), and async jobs given to
/// `async`/`run`, hold the queue (suspended) until they are done, so everything on it stays
/// in order: that is what keeps a shared room's numbering advancing in one place
/// (`Hub.deliverInOrder`).
final class Committer: Sendable {
    struct Entry: Sendable {
        /// As submitted; `stored` is what the store made of it (its sequence number when the
        /// store gives them out).
        var message: ChatMessage
        let room: Room
        /// Told the outcome on the store queue (the sender's error event, the API's answer).
        let done: (@Sendable (Result<ChatMessage, any Error>) -> Void)?
        /// The store found its nonce already used: `message` is the original, not to be
        /// broadcast again.
        var isDuplicate = false
    }

    /// What the hub does with a committed batch: at once, on the store queue (one node), or
    /// as an async job that holds the queue (a cluster's in-order delivery).
    enum Committed: Sendable {
        case now(@Sendable ([Entry]) -> Void)
        case later(@Sendable ([Entry]) async -> Void)
    }

    private let store: any ChatStore
    /// The store, when it can append on this queue's thread and a batch is broadcast at once.
    private let blocking: (store: any BlockingAppend, broadcast: @Sendable ([Entry]) -> Void)?
    private let queue = DispatchQueue(label: "chatd.store")
    private let gathered = NIOLockedValueBox(Gathered())
    private let committed: Committed
    private let failed: @Sendable ([Entry], any Error) -> Void

    /// Counts webhook events a failed outbox write lost.
    private let eventsLost: @Sendable (Int) -> Void

    init(
        store: any ChatStore, committed: Committed, failed: @escaping @Sendable ([Entry], any Error) -> Void,
        eventsLost: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.eventsLost = eventsLost
        self.store = store
        self.committed = committed
        if let store = store as? any BlockingAppend, case let .now(broadcast) = committed {
            blocking = (store, broadcast)
        } else {
            blocking = nil
        }
        self.failed = failed
    }

    func submit(_ entry: Entry) {
        let start = gathered.withLockedValue { g -> Bool in
            g.pending.append(entry)
            if g.draining { return false }
            g.draining = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    /// Webhook events with nothing stored behind them (joins, leaves), written to the outbox
    /// in the order they were submitted among the messages: a member's join before the
    /// message it then sends, its leave after the last one it sent. False when
    /// `Gathered.maxEvents` wait already (they are dropped).
    func submit(events: [WebhookEvent]) -> Bool {
        let start = gathered.withLockedValue { g -> Bool? in
            guard g.waitingEvents < Gathered.maxEvents else { return nil }
            g.marks.append((g.pending.count, events))
            g.waitingEvents += events.count
            if g.draining { return false }
            g.draining = true
            return true
        }
        guard let start else { return false }
        if start { queue.async { self.drain() } }
        return true
    }

    /// What waits for the queue: messages, and the events submitted among them (`marks`:
    /// each event list with the number of messages submitted before it).
    struct Gathered {
        static let maxEvents = 100_000
        var pending: [Entry] = []
        var marks: [(at: Int, events: [WebhookEvent])] = []
        var waitingEvents = 0
        var draining = false

        /// The next step in submission order: the messages up to the first mark, or the
        /// events of the marks at the head.
        mutating func takeStep() -> Step? {
            if let first = marks.first, first.at == 0 {
                var events: [WebhookEvent] = []
                while let mark = marks.first, mark.at == 0 {
                    events += mark.events
                    marks.removeFirst()
                }
                waitingEvents -= events.count
                return .events(events)
            }
            let count = marks.first?.at ?? pending.count
            guard count > 0 else { return nil }
            let batch = Array(pending.prefix(count))
            pending.removeFirst(count)
            for i in marks.indices { marks[i].at -= count }
            return .messages(batch)
        }

        mutating func takeAll() -> [Step] {
            var steps: [Step] = []
            while let step = takeStep() { steps.append(step) }
            return steps
        }
    }

    enum Step: Sendable {
        case messages([Entry])
        case events([WebhookEvent])
    }

    /// On the queue: commits what has gathered in one batch, then queues itself again while
    /// more gathers. One batch per turn, not a loop until nothing is pending: under a
    /// sustained flood there is always more, and a job queued meanwhile (a moderator's delete,
    /// the shutdown flush) waited seconds for the flood to pause (a review of issue 14).
    private func drain() {
        let step = gathered.withLockedValue { g -> Step? in
            let step = g.takeStep()
            if step == nil { g.draining = false }
            return step
        }
        guard let step else { return }
        commit([step], then: nil)
        queue.async { self.drain() }
    }

    /// On the queue: carries out `steps` in order, then runs `job`. One batch of messages
    /// alone (the usual turn) goes the way it always did; events, and several steps, are
    /// written by one async part that holds the queue until all are done.
    private func commit(_ steps: [Step], then job: (@Sendable () async -> Void)?) {
        if steps.count <= 1, case let .messages(batch) = steps.first ?? .messages([]) {
            return commit(batch, then: job)
        }
        hold { [self] in
            for step in steps {
                switch step {
                case let .messages(batch):
                    let outcome = await Result { try await store.append(batch.map(\.message)) }
                    await commit(batch, outcome: outcome)
                case let .events(events):
                    // No stored change stands behind these: a failed write loses them (counted).
                    if (try? await store.enqueueWebhooks(events)) == nil { eventsLost(events.count) }
                }
            }
            await job?()
        }
    }

    /// On the queue: commits `batch`, then runs `job`. A job is never run while messages
    /// submitted before it wait, and at most one async part holds the queue at a time.
    private func commit(_ batch: [Entry], then job: (@Sendable () async -> Void)?) {
        if batch.isEmpty {
            if let job { hold(job) }
            return
        }
        if let blocking {
            commit(batch, outcome: Result { try blocking.store.appendBlocking(batch.map(\.message)) }, broadcast: blocking.broadcast)
            if let job { hold(job) }
            return
        }
        // Held until the async commit (and the job) are over.
        hold { [self] in
            let outcome = await Result { try await store.append(batch.map(\.message)) }
            await commit(batch, outcome: outcome)
            await job?()
        }
    }

    private func commit(_ batch: [Entry], outcome: Result<[ChatMessage], any Error>, broadcast: ([Entry]) -> Void) {
        let split = Self.split(batch, outcome)
        broadcast(split.done)
        answer(split)
    }

    private func commit(_ batch: [Entry], outcome: Result<[ChatMessage], any Error>) async {
        let split = Self.split(batch, outcome)
        switch committed {
        case let .now(broadcast): broadcast(split.done)
        case let .later(broadcast): await broadcast(split.done)
        }
        answer(split)
    }

    /// Tells each entry's submitter its outcome, once the stored ones are broadcast.
    private func answer(_ split: (done: [Entry], lost: [Entry], error: (any Error)?)) {
        for entry in split.done { entry.done?(.success(entry.message)) }
        if let error = split.error { fail(split.lost, error) }
    }

    /// The entries stored (with what the store made of them) and those lost, and why.
    private static func split(
        _ batch: [Entry], _ outcome: Result<[ChatMessage], any Error>
    ) -> (done: [Entry], lost: [Entry], error: (any Error)?) {
        switch outcome {
        case let .success(stored):
            return (zip(batch, stored).map { entry, message in entry.storing(message) }, [], nil)
        case let .failure(partial as PartialAppend):
            var done: [Entry] = []
            var lost: [Entry] = []
            for (entry, message) in zip(batch, partial.stored) {
                if let message { done.append(entry.storing(message)) } else { lost.append(entry) }
            }
            return (done, lost, partial.underlying)
        case let .failure(error):
            return ([], batch, error)
        }
    }

    private func fail(_ entries: [Entry], _ error: any Error) {
        failed(entries, error)
        for entry in entries { entry.done?(.failure(error)) }
    }

    /// On the queue: suspends it until `body` is done, so that nothing after it starts before.
    private func hold(_ body: @escaping @Sendable () async -> Void) {
        queue.suspend()
        Task { [queue] in
            await body()
            queue.resume()
        }
    }

    /// Runs `body` after everything submitted so far, without waiting for it: what has
    /// gathered when its turn comes is committed first, in the same turn.
    func async(_ body: @escaping @Sendable () async -> Void) {
        queue.async {
            // Not `draining = false`: a drain is queued whenever messages were submitted,
            // and it finds the list empty and says so.
            let steps = self.gathered.withLockedValue { $0.takeAll() }
            self.commit(steps, then: body)
        }
    }

    /// Like `async`, for a job that is usually done at once: `body` runs on the queue and
    /// returns the async part left, if any, which holds the queue until it is done. No task
    /// and no suspension of the queue when nothing is left.
    func inTurn(_ body: @escaping @Sendable () -> (@Sendable () async -> Void)?) {
        queue.async {
            let steps = self.gathered.withLockedValue { $0.takeAll() }
            guard steps.isEmpty else {
                // Committed first; that may itself be async (PostgreSQL), and `body` after it.
                self.commit(steps) { await body()?() }
                return
            }
            if let rest = body() { self.hold(rest) }
        }
    }

    /// Runs `body` after everything submitted so far and returns what it returns (reads
    /// that must see committed state, and shutdown's final flush).
    func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        await withCheckedContinuation { continuation in
            async { continuation.resume(returning: await body()) }
        }
    }
}

extension Committer.Entry {
    fileprivate func storing(_ stored: ChatMessage) -> Self {
        var entry = self
        entry.isDuplicate = stored.id != message.id
        entry.message = stored
        return entry
    }
}

extension Result where Failure == any Error {
    fileprivate init(_ body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
