import NIOCore
import Testing

@testable import ChatServer

@Suite struct BroadcastBatchTests {
    let allocator = ByteBufferAllocator()

    func batch(_ texts: [String], firstEpoch: UInt64 = 5) -> BroadcastBatch {
        BroadcastBatch(firstEpoch: firstEpoch, frames: texts.map { ServerFrame.text(Array($0.utf8), allocator: allocator) })
    }

    @Test func joinedIsTheFramesBackToBack() {
        let b = batch(["a", "bb", "ccc"])
        var expected = ByteBuffer()
        for frame in b.frames { expected.writeImmutableBuffer(frame) }
        #expect(b.joined(allocator: allocator) == expected)
        #expect(b.joined(allocator: allocator)?.readableBytes == 2 + 1 + 2 + 2 + 2 + 3)
    }

    @Test func oneFrameIsItsOwnJoinedForm() {
        let b = batch(["only"])
        #expect(b.joined(allocator: allocator) == b.frames[0])
    }

    /// A batch past `maxJoinedBytes` is not joined: it goes frame by frame, under each
    /// member's slow-consumer rule.
    @Test func aBigBatchIsNotJoined() {
        let text = String(repeating: "x", count: 1000)
        let fits = batch(Array(repeating: text, count: BroadcastBatch.maxJoinedBytes / 1004))
        #expect(fits.joined(allocator: allocator) != nil)
        let over = batch(Array(repeating: text, count: BroadcastBatch.maxJoinedBytes / 1004 + 1))
        #expect(over.joined(allocator: allocator) == nil)
    }

    /// Epochs 5, 6, 7: a member that joined at epoch 4 sees none of them in its welcome; at 5,
    /// the first; at 7 or later, all.
    @Test func seenCountsTheBroadcastsAMemberJoinedAfter() {
        let b = batch(["a", "b", "c"], firstEpoch: 5)
        #expect(b.seen(joinEpoch: 0) == 0)
        #expect(b.seen(joinEpoch: 4) == 0)
        #expect(b.seen(joinEpoch: 5) == 1)
        #expect(b.seen(joinEpoch: 6) == 2)
        #expect(b.seen(joinEpoch: 7) == 3)
        #expect(b.seen(joinEpoch: .max) == 3)
    }

    @Test func mapKeepsEpochsAndRejoins() {
        let b = batch(["a", "b"], firstEpoch: 9).map { frame in
            var copy = frame
            copy.writeString("!")
            return copy
        }
        #expect(b.firstEpoch == 9)
        #expect(b.frames.count == 2)
        #expect(b.joined(allocator: allocator)?.readableBytes == 2 * (2 + 1 + 1))
    }
}
