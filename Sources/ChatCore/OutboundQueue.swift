/// What a connection could not write yet because its socket is behind (more than
/// `limits.send_buffer_bytes` unsent), and the slow-consumer decision for each broadcast.
/// Bounded by `limit` frames: when full, the oldest droppable frame goes and its room's
/// `missed` count grows. Frames that answer the client's own requests are not droppable (they
/// are bounded by its rate limit). Generic over the frame so that it is decided and tested
/// without NIO; the session keeps one per connection, on its event loop.
///
/// The per-delivery path (`isEmpty`, `deliver`) is `@inlinable`: the session's event loop
/// calls it once per member and broadcast, and a generic call into another module that
/// cannot be specialized looks up the type's metadata every time.
public struct OutboundQueue<Frame> {
    @usableFromInline
    struct Entry {
        var frame: Frame
        var bytes: Int
        /// The room of a broadcast, nil for a reply to this client.
        var room: String?
        var droppable: Bool
    }

    public var limit: Int
    @usableFromInline var entries: [Entry] = []
    @usableFromInline var head = 0
    /// Dropped broadcasts per room since the client was last told.
    public var missed: [String: Int] { missedCounts }
    @usableFromInline var missedCounts: [String: Int] = [:]
    /// Bytes of the queued frames that are never dropped (replies): the part of the queue
    /// that counts against the connection's outbound bound (broadcasts are bounded by `limit`).
    public private(set) var replyBytes = 0

    public init(limit: Int) { self.limit = limit }

    @inlinable public var isEmpty: Bool { head == entries.count && missedCounts.isEmpty }
    @inlinable public var count: Int { entries.count - head }

    public enum Delivery: Equatable {
        /// Write the frame now.
        case write
        /// Held back; `dropped` older broadcasts made room.
        case queued(dropped: Int)
        /// Close the connection with 1013: it fell behind in a `disconnect` room.
        case disconnect
    }

    /// A broadcast to a member of `room` under the room's slow-consumer `policy`. It is
    /// written while the socket keeps up and nothing is held back (so the client sees events
    /// in order); otherwise the policy decides.
    @inlinable
    public mutating func deliver(
        _ frame: Frame, bytes: Int, room: String, policy: RoomRule.SlowConsumer, writable: Bool
    ) -> Delivery {
        if isEmpty && writable { return .write }
        switch policy {
        case .disconnect: return .disconnect
        case .dropOldest: return .queued(dropped: append(frame, bytes: bytes, room: room, droppable: true))
        }
    }

    /// Queues `frame`; returns how many frames were dropped to stay within the limit.
    public mutating func append(_ frame: Frame, bytes: Int, room: String?, droppable: Bool) -> Int {
        entries.append(Entry(frame: frame, bytes: bytes, room: room, droppable: droppable))
        if !droppable { replyBytes = replyBytes.saturatingAdd(bytes) }
        var dropped = 0
        while count > limit, let index = entries[head...].firstIndex(where: \.droppable) {
            let entry = entries.remove(at: index)
            if let room = entry.room { missedCounts[room, default: 0] += 1 }
            dropped += 1
        }
        return dropped
    }

    /// Takes the missed counts (to tell the client) and clears them.
    public mutating func takeMissed() -> [(room: String, count: Int)] {
        defer { missedCounts.removeAll() }
        return missedCounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The oldest queued frame, removed.
    public mutating func popFirst() -> Frame? {
        guard head < entries.count else { return nil }
        let entry = entries[head]
        if !entry.droppable { replyBytes -= min(entry.bytes, replyBytes) }
        head += 1
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        }
        return entry.frame
    }
}

extension OutboundQueue: Sendable where Frame: Sendable {}
extension OutboundQueue.Entry: Sendable where Frame: Sendable {}
