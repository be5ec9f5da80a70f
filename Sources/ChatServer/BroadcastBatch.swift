import NIOCore

/// Broadcasts to one room that leave the hub together (a committed batch's messages), in
/// order, with consecutive epochs from `firstEpoch`. A member that keeps up is handed their
/// frames joined in one buffer (`joined`): one write per member per batch rather than one per
/// message, which is where fan-out spent its time (BENCHMARKS.md, issue 15).
struct BroadcastBatch {
    /// Past this many bytes a batch is written frame by frame, so that a member's
    /// slow-consumer rule sees each frame and a stalled member owes at most this much more
    /// than `limits.send_buffer_bytes`.
    static let maxJoinedBytes = 32 * 1024

    let firstEpoch: UInt64
    let frames: [ByteBuffer]

    /// The frames back to back, or nil past `maxJoinedBytes`. Made on the loop that writes
    /// it (not under the room's lock, where publishers wait), and only if someone needs it.
    func joined(allocator: ByteBufferAllocator) -> ByteBuffer? {
        if frames.count == 1 { return frames[0] }
        let total = frames.reduce(0) { $0 + $1.readableBytes }
        guard total <= Self.maxJoinedBytes else { return nil }
        var buffer = allocator.buffer(capacity: total)
        for frame in frames { buffer.writeImmutableBuffer(frame) }
        return buffer
    }

    /// How many of the frames a member that joined at `joinEpoch` has had already (they were
    /// in its welcome): the broadcasts of epochs up to `joinEpoch`.
    func seen(joinEpoch: UInt64) -> Int {
        guard joinEpoch >= firstEpoch else { return 0 }
        return Int(clamping: min(joinEpoch - firstEpoch + 1, UInt64(frames.count)))
    }

    /// The same broadcasts, each frame made into another form (compressed for a window size).
    func map(_ transform: (ByteBuffer) -> ByteBuffer) -> BroadcastBatch {
        BroadcastBatch(firstEpoch: firstEpoch, frames: frames.map(transform))
    }
}
