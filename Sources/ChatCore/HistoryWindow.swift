/// The last `limit` messages of a room, oldest first: a ring buffer, so that appending to a
/// full window costs the same as appending to an empty one.
public struct HistoryWindow: Sendable {
    public private(set) var limit: Int
    private var storage: [ChatMessage] = []
    private var head = 0  // index of the oldest element once the ring is full
    /// Changes with every change to what the window holds: two reads at the same generation
    /// hold the same messages (a room's encoded welcome is kept for as long as it stays).
    public private(set) var generation: UInt64 = 0

    public init(limit: Int) {
        self.limit = max(0, limit)
        storage.reserveCapacity(min(self.limit, 1024))
    }

    public var count: Int { storage.count }

    /// The oldest message held.
    public var first: ChatMessage? { storage.isEmpty ? nil : storage[head] }

    public mutating func append(_ message: ChatMessage) {
        guard limit > 0 else { return }
        generation &+= 1
        if storage.count < limit {
            storage.append(message)
        } else {
            storage[head] = message
            head = (head + 1) % limit
        }
    }

    /// Oldest first.
    public var messages: [ChatMessage] {
        guard head != 0 else { return storage }
        return Array(storage[head...] + storage[..<head])
    }

    /// Changes the message numbered `seq` (not an edit of it), if held.
    public mutating func update(message seq: UInt64, _ change: (ChatMessage) -> ChatMessage) {
        guard let index = storage.firstIndex(where: { $0.seq == seq && $0.isMessage }) else { return }
        storage[index] = change(storage[index])
        generation &+= 1
    }

    /// Drops the messages `matching` says so of (deleted or erased ones).
    public mutating func remove(where matching: (ChatMessage) -> Bool) {
        let kept = messages.filter { !matching($0) }
        if kept.count != storage.count { generation &+= 1 }
        storage = kept
        head = 0
    }

    public mutating func resize(to newLimit: Int) {
        let kept = Array(messages.suffix(max(0, newLimit)))
        if kept.count != storage.count { generation &+= 1 }
        limit = max(0, newLimit)
        storage = kept
        head = 0
    }
}
