import Testing

@testable import ChatCore

/// Slow consumers without a socket (issue 14, item 2): what a broadcast to a member whose
/// socket is behind becomes under each room policy, and what the queue keeps.
@Suite struct OutboundQueueTests {
    typealias Queue = OutboundQueue<Int>

    @Test func keepsTheNewestAndCountsTheDroppedPerRoom() {
        var q = Queue(limit: 3)
        var dropped = 0
        for n in 1...5 { dropped += q.append(n, bytes: 4, room: n % 2 == 0 ? "a" : "b", droppable: true) }
        #expect(dropped == 2 && q.count == 3)
        #expect(q.takeMissed().map { "\($0.room)=\($0.count)" } == ["a=1", "b=1"])
        #expect(q.takeMissed().isEmpty)
        #expect([q.popFirst(), q.popFirst(), q.popFirst(), q.popFirst()] == [3, 4, 5, nil])
        #expect(q.isEmpty)
    }

    @Test func repliesAreNeverDropped() {
        var q = Queue(limit: 2)
        _ = q.append(1, bytes: 10, room: nil, droppable: false)
        _ = q.append(2, bytes: 4, room: "a", droppable: true)
        _ = q.append(3, bytes: 4, room: "a", droppable: true)
        #expect(q.count == 2)
        #expect(q.replyBytes == 10)
        #expect(q.popFirst() == 1 && q.popFirst() == 3)
        #expect(q.replyBytes == 0)
        // Only replies: the limit is exceeded rather than a reply lost.
        for n in 10..<14 { _ = q.append(n, bytes: 1, room: nil, droppable: false) }
        #expect(q.count == 4)
        #expect(q.replyBytes == 4)
    }

    @Test func aMemberThatKeepsUpIsWrittenToWhateverThePolicy() {
        for policy in RoomRule.SlowConsumer.allCases {
            var q = Queue(limit: 2)
            #expect(q.deliver(1, bytes: 4, room: "r", policy: policy, writable: true) == .write)
            #expect(q.isEmpty)
        }
    }

    /// Chat rooms: a member that falls behind is closed (1013) and resumes with `since`.
    @Test func aSlowMemberOfADisconnectRoomIsClosed() {
        var q = Queue(limit: 2)
        #expect(q.deliver(1, bytes: 4, room: "chat", policy: .disconnect, writable: false) == .disconnect)
        #expect(q.isEmpty)
    }

    /// Dashboards: the newest `limit` events are kept, the rest counted as missed; once
    /// something is held, later events queue behind it even if the socket caught up, so the
    /// client sees them in order.
    @Test func aSlowMemberOfADropOldestRoomKeepsTheNewestInOrder() {
        var q = Queue(limit: 2)
        #expect(q.deliver(1, bytes: 4, room: "d", policy: .dropOldest, writable: false) == .queued(dropped: 0))
        #expect(q.deliver(2, bytes: 4, room: "d", policy: .dropOldest, writable: false) == .queued(dropped: 0))
        #expect(q.deliver(3, bytes: 4, room: "d", policy: .dropOldest, writable: true) == .queued(dropped: 1))
        #expect(q.takeMissed().map { "\($0.room)=\($0.count)" } == ["d=1"])
        #expect([q.popFirst(), q.popFirst(), q.popFirst()] == [2, 3, nil])
        #expect(q.deliver(4, bytes: 4, room: "d", policy: .dropOldest, writable: true) == .write)
    }

    /// A `disconnect` room's member that is behind only because of a `drop_oldest` room's
    /// backlog is still behind: it is closed rather than overtaking the held events.
    @Test func heldEventsMakeAMemberSlowInEveryRoom() {
        var q = Queue(limit: 4)
        _ = q.deliver(1, bytes: 4, room: "dash", policy: .dropOldest, writable: false)
        #expect(q.deliver(2, bytes: 4, room: "chat", policy: .disconnect, writable: true) == .disconnect)
    }

    @Test func hugeReplySizesSaturate() {
        var q = Queue(limit: 1)
        _ = q.append(1, bytes: Int.max, room: nil, droppable: false)
        _ = q.append(2, bytes: Int.max, room: nil, droppable: false)
        #expect(q.replyBytes == Int.max)
        _ = q.popFirst()
        _ = q.popFirst()
        #expect(q.replyBytes == 0)
    }
}
