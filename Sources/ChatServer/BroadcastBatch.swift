import NIOCore

/// Broadcasts to one room that leave the hub together (a committed batch's messages), in
/// order, with consecutive epochs from `firstEpoch`. `joined` is their frames back to back:
/// a member that keeps up is handed that one buffer — one write per member per batch rather
/// than one per message, which is where fan-out spent its time (BENCHMARKS.md, issue 15).
struct BroadcastBatch {
    let firstEpoch: UInt64
    let frames: [ByteBuffer]
    let joined: ByteBuffer

    init(firstEpoch: UInt64, frames: [ByteBuffer], allocator: ByteBufferAllocator) {
        self.firstEpoch = firstEpoch
        self.frames = frames
        if frames.count == 1 {
            joined = frames[0]
        } else {
            var buffer = allocator.buffer(capacity: frames.reduce(0) { $0 + $1.readableBytes })
            for frame in frames { buffer.writeImmutableBuffer(frame) }
            joined = buffer
        }
    }

    /// How many of the frames a member that joined at `joinEpoch` has had already (they were
    /// in its welcome): the broadcasts of epochs up to `joinEpoch`.
    func seen(joinEpoch: UInt64) -> Int {
        guard joinEpoch >= firstEpoch else { return 0 }
        return Int(clamping: min(joinEpoch - firstEpoch + 1, UInt64(frames.count)))
    }

    /// The same broadcasts, each frame made into another form (compressed for a window size).
    func map(allocator: ByteBufferAllocator, _ transform: (ByteBuffer) -> ByteBuffer) -> BroadcastBatch {
        BroadcastBatch(firstEpoch: firstEpoch, frames: frames.map(transform), allocator: allocator)
    }
}
