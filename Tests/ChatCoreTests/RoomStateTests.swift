import Testing

@testable import ChatCore

/// A room's numbering, window, epoch and members without a hub or a lock (issue 14, item 2).
@Suite struct RoomStateTests {
    static func message(_ seq: UInt64) -> ChatMessage {
        ChatMessage(id: "m\(seq)", seq: seq, room: "r", from: "a", text: "t\(seq)", sentAt: "2026-12-03T00:00:00.000Z")
    }

    /// One node: numbers run ahead of what is committed by what the committer holds; what a
    /// resume may read from the store stops at the committed one.
    @Test func numberingContinuesFromTheStoreAndRunsAheadOfCommits() {
        var room = RoomState(historyWindow: 3, shardCount: 2, lastSeq: 41)
        let r1 = room.numberNext()
        #expect(r1 == 42)
        room.handedToCommitter()
        let r2 = room.numberNext()
        #expect(r2 == 43)
        room.handedToCommitter()
        #expect(room.storedSeq(.numberedHere) == 41)
        #expect(room.storedSeq(.none) == 43)
        room.committed(Self.message(42))
        room.settled()
        #expect(room.storedSeq(.numberedHere) == 42)
        #expect(!room.isIdle)
        room.committed(Self.message(43))
        room.settled()
        #expect(room.isIdle)
        #expect(room.history.messages.map(\.seq) == [42, 43])
    }

    @Test func theWindowKeepsTheNewest() {
        var room = RoomState(historyWindow: 2, shardCount: 1)
        for seq in 1...4 { room.committed(Self.message(UInt64(seq))) }
        #expect(room.history.messages.map(\.seq) == [3, 4])
    }

    /// The generation names what the window holds (a room's cached welcome is keyed by it):
    /// every change moves it, and only a change does.
    @Test func theWindowsGenerationMovesWithEveryChangeAndOnlyThen() {
        var window = HistoryWindow(limit: 2)
        var seen: Set<UInt64> = [window.generation]
        for seq in 1...3 {
            window.append(Self.message(UInt64(seq)))
            #expect(seen.insert(window.generation).inserted)
        }
        let before = window.generation
        window.remove { $0.seq == 99 }
        window.resize(to: 5)
        #expect(window.generation == before)
        window.remove { $0.seq == 3 }
        #expect(seen.insert(window.generation).inserted)
        window.resize(to: 0)
        #expect(seen.insert(window.generation).inserted && window.count == 0)
        var empty = HistoryWindow(limit: 0)
        empty.append(Self.message(1))
        #expect(empty.generation == 0 && empty.count == 0)
    }

    /// A member that enters records the epoch: deliveries queued before (older epochs) skip
    /// it, since its snapshot has them.
    @Test func aJoinRecordsTheEpochAndLaterBroadcastsAreNewer() {
        var room = RoomState(historyWindow: 5, shardCount: 2)
        _ = room.nextEpoch()
        let queuedBefore = room.nextEpoch()
        room.startEntering()
        let r3 = room.enter(shard: 1, maxMembers: 0)
        #expect(r3 == .entered(joinEpoch: queuedBefore, localMembers: 1))
        let r4 = room.nextEpoch()
        #expect(r4 > queuedBefore)
        #expect(room.perShard == [0, 1])
    }

    @Test func capacityCountsMembersOnOtherNodes() {
        var room = RoomState(historyWindow: 5, shardCount: 1)
        let r5 = room.remoteMembers(2)
        #expect(r5)
        let again = room.remoteMembers(2)
        #expect(!again)  // nothing changed: no presence event
        room.startEntering()
        #expect(room.isFull(maxMembers: 2))
        let r6 = room.enter(shard: 0, maxMembers: 2)
        #expect(r6 == .full)
        #expect(room.entering == 0 && room.localMembers == 0)
        room.startEntering()
        let r7 = room.enter(shard: 0, maxMembers: 3)
        #expect(r7 == .entered(joinEpoch: 0, localMembers: 1))
        #expect(room.total == 3)
    }

    @Test func leavingCountsDownPerLoopAndNeverBelowZero() {
        var room = RoomState(historyWindow: 5, shardCount: 2)
        room.startEntering()
        _ = room.enter(shard: 0, maxMembers: 0)
        room.startEntering()
        _ = room.enter(shard: 1, maxMembers: 0)
        let r8 = room.leave(shard: 0)
        #expect(r8 == 1)
        let r9 = room.leave(shard: 1)
        #expect(r9 == 0)
        let r10 = room.leave(shard: 1)
        #expect(r10 == 0)
        #expect(room.perShard == [0, 0])
        let noSuchLoop = room.leave(shard: 7)
        #expect(noSuchLoop == 0)  // no such loop: no trap
    }

    /// A cluster room: messages in sequence order enter the window once; older ones and
    /// repeats are not broadcast again.
    @Test func inOrderDeliveryTakesEachNumberOnce() {
        var room = RoomState(historyWindow: 5, shardCount: 1, lastSeq: 10)
        let r11 = room.deliveredInOrder(Self.message(11))
        #expect(r11)
        let r12 = room.deliveredInOrder(Self.message(11))
        #expect(!r12)
        let r13 = room.deliveredInOrder(Self.message(9))
        #expect(!r13)
        room.delivered(through: 14, synced: true)
        #expect(room.seq == 14)
        let r14 = room.deliveredInOrder(Self.message(13))
        #expect(!r14)
        #expect(room.storedSeq(.numberedByStore) == 14)
    }
}
