import NIOCore
import Testing

@testable import ChatServer

@Suite struct OutboundQueueTests {
    func frame(_ n: Int) -> ByteBuffer { ByteBuffer(integer: UInt32(n)) }
    func value(_ b: ByteBuffer?) -> Int? { b.flatMap { $0.getInteger(at: $0.readerIndex, as: UInt32.self) }.map(Int.init) }

    @Test func keepsTheNewestAndCountsTheDroppedPerRoom() {
        var q = OutboundQueue(limit: 3)
        var dropped = 0
        for n in 1...5 { dropped += q.append(frame(n), room: n % 2 == 0 ? "a" : "b", droppable: true) }
        #expect(dropped == 2 && q.count == 3)
        #expect(q.takeMissed().map { "\($0.room)=\($0.count)" } == ["a=1", "b=1"])
        #expect(q.takeMissed().isEmpty)
        #expect([value(q.popFirst()), value(q.popFirst()), value(q.popFirst()), value(q.popFirst())] == [3, 4, 5, nil])
        #expect(q.isEmpty)
    }

    @Test func repliesAreNeverDropped() {
        var q = OutboundQueue(limit: 2)
        _ = q.append(frame(1), room: nil, droppable: false)
        _ = q.append(frame(2), room: "a", droppable: true)
        _ = q.append(frame(3), room: "a", droppable: true)
        #expect(q.count == 2)
        #expect(value(q.popFirst()) == 1 && value(q.popFirst()) == 3)
        // Only replies: the limit is exceeded rather than a reply lost.
        for n in 10..<14 { _ = q.append(frame(n), room: nil, droppable: false) }
        #expect(q.count == 4)
    }
}
