/// The last `limit` messages of a room, oldest first, with the changes (edits, reactions)
/// made since the oldest of them: the room's log from there on, which a fresh joiner is
/// shown (messages, in their current state) and a resume is served from.
///
/// Only messages count against `limit`, so that a burst of reactions does not push
/// messages out of what joiners see; the changes are bounded too, to `entriesPerMessage`
/// entries in all per message of the limit, so that they cannot grow it without bound: past
/// that the oldest change goes, and resumes from before it (`coveredFrom`) read the store.
public struct HistoryWindow: Sendable {
    public private(set) var limit: Int
    /// The entries from `head` on; those before it were dropped and are let go of in bulk.
    private var storage: [ChatMessage] = []
    private var head = 0
    private var messageCount = 0
    /// Every entry from this number on is held (but deleted ones): a resume may be served
    /// from here; older changes were let go.
    public private(set) var coveredFrom: UInt64 = 0
    /// Changes with every change to what the window holds: two reads at the same generation
    /// hold the same messages (a room's encoded welcome is kept for as long as it stays).
    public private(set) var generation: UInt64 = 0

    public static let entriesPerMessage = 4

    public init(limit: Int) {
        self.limit = max(0, limit)
        storage.reserveCapacity(min(self.limit, 1024))
    }

    /// Entries held (messages and changes).
    public var count: Int { storage.count - head }

    /// The oldest entry held.
    public var first: ChatMessage? { head < storage.count ? storage[head] : nil }

    private var entryLimit: Int { Self.entryLimit(messages: limit) }

    public mutating func append(_ entry: ChatMessage) {
        guard limit > 0 else { return }
        generation &+= 1
        storage.append(entry)
        if entry.isMessage { messageCount += 1 }
        while messageCount > limit {
            if storage[head].isMessage { messageCount -= 1 }
            head += 1
        }
        if count > entryLimit, let oldest = storage[head...].firstIndex(where: { !$0.isMessage }) {
            coveredFrom = max(coveredFrom, storage[oldest].seq + 1)
            storage.remove(at: oldest)
        }
        // Let go of what was dropped once it is most of the array: appending stays O(1)
        // amortised, as the ring it replaces was.
        if head >= 64, head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    /// Oldest first: messages and changes.
    public var messages: [ChatMessage] { Array(storage[head...]) }

    /// The entries a resume may be served from: every one from `coveredFrom` on.
    public var resumable: [ChatMessage] {
        guard coveredFrom > 0 else { return messages }
        return storage[head...].filter { $0.seq >= coveredFrom }
    }

    /// The messages held that have reactions, nil when none has (a joiner's own are read for
    /// those only). No copy of the window is made: a join asks under the room's lock.
    public var reacted: [UInt64]? { storage[head...].reactedMessages }

    /// The first entry of `resumable`.
    public var resumableFirst: ChatMessage? { storage[head...].first { $0.seq >= coveredFrom } }

    /// A window read from a store, oldest first, from the newest messages and the newest
    /// entries (both newest first): the entries from the oldest of those messages on, and
    /// before them the messages older than every entry read.
    public static func window(messages: [ChatMessage], entries: [ChatMessage]) -> [ChatMessage] {
        let oldestMessage = messages.last?.seq ?? 0
        let tail = entries.filter { $0.seq >= oldestMessage }
        let oldestEntry = tail.last?.seq ?? .max
        return messages.filter { $0.seq < oldestEntry }.reversed() + tail.reversed()
    }

    /// The most entries a window holds.
    public static func entryLimit(messages limit: Int) -> Int {
        limit.multipliedReportingOverflow(by: entriesPerMessage).overflow ? .max : limit * entriesPerMessage
    }

    /// Entries older than `seq` (loaded from the store without the changes between them)
    /// are for welcomes only.
    public mutating func covered(from seq: UInt64) {
        coveredFrom = max(coveredFrom, seq)
    }

    /// Changes the message numbered `seq` (not a change of it), if held.
    public mutating func update(message seq: UInt64, _ change: (ChatMessage) -> ChatMessage) {
        guard let index = storage[head...].firstIndex(where: { $0.seq == seq && $0.isMessage }) else { return }
        storage[index] = change(storage[index])
        generation &+= 1
    }

    /// Drops the entries `matching` says so of (deleted or erased ones).
    public mutating func remove(where matching: (ChatMessage) -> Bool) {
        let kept = messages.filter { !matching($0) }
        if kept.count != count { generation &+= 1 }
        storage = kept
        head = 0
        messageCount = kept.count { $0.isMessage }
    }

    public mutating func resize(to newLimit: Int) {
        let all = messages
        limit = max(0, newLimit)
        storage = []
        head = 0
        messageCount = 0
        let before = generation
        for entry in all { append(entry) }
        // A resize that keeps every entry changes nothing a welcome shows.
        generation = count == all.count ? before : before &+ 1
    }
}
