import NIOCore

/// What a connection could not write yet because its socket is behind (the channel is not
/// writable: more than `limits.send_buffer_bytes` unsent). Bounded by `limit` frames: when
/// full, the oldest droppable frame goes and its room's `missed` count grows. Frames that
/// answer the client's own requests are not droppable (they are bounded by its rate limit).
/// Touched only on the connection's event loop.
struct OutboundQueue {
    struct Entry {
        var frame: ByteBuffer
        /// The room of a broadcast, nil for a reply to this client.
        var room: String?
        var droppable: Bool
    }

    var limit: Int
    private(set) var entries: [Entry] = []
    private var head = 0
    /// Dropped broadcasts per room since the client was last told.
    private(set) var missed: [String: Int] = [:]
    /// Bytes of the queued frames that are never dropped (replies): the part of the queue
    /// that counts against the connection's outbound bound (broadcasts are bounded by `limit`).
    private(set) var replyBytes = 0

    init(limit: Int) { self.limit = limit }

    var isEmpty: Bool { head == entries.count && missed.isEmpty }
    var count: Int { entries.count - head }

    /// Queues `frame`; returns how many frames were dropped to stay within the limit.
    mutating func append(_ frame: ByteBuffer, room: String?, droppable: Bool) -> Int {
        entries.append(Entry(frame: frame, room: room, droppable: droppable))
        if !droppable { replyBytes += frame.readableBytes }
        var dropped = 0
        while count > limit, let index = entries[head...].firstIndex(where: \.droppable) {
            let entry = entries.remove(at: index)
            if let room = entry.room { missed[room, default: 0] += 1 }
            dropped += 1
        }
        return dropped
    }

    /// Takes the missed counts (to tell the client) and clears them.
    mutating func takeMissed() -> [(room: String, count: Int)] {
        defer { missed.removeAll() }
        return missed.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The oldest queued frame, removed.
    mutating func popFirst() -> ByteBuffer? {
        guard head < entries.count else { return nil }
        let frame = entries[head].frame
        if !entries[head].droppable { replyBytes -= frame.readableBytes }
        head += 1
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        }
        return frame
    }
}
