import Testing

@testable import ChatCore

/// Joins and resumes as the room's decisions (`RoomState.join`, `RoomState.resume`), with the
/// store reads the hub would do played by hand.
@Suite struct RoomJoinTests {
    static func message(_ seq: UInt64) -> ChatMessage { RoomStateTests.message(seq) }

    /// A one-node room with messages 1…last committed, the window holding the newest `window`.
    static func room(last: UInt64, window: Int, shards: Int = 1) -> RoomState {
        var room = RoomState(historyWindow: window, shardCount: shards)
        for seq in 1...last {
            _ = room.numberNext()
            room.committed(message(seq))
        }
        return room
    }

    @Test func aPlainJoinEntersWithTheWindow() {
        var room = Self.room(last: 5, window: 3)
        room.startEntering()
        let step = room.join(.init(shard: 0, maxMembers: 0, since: nil, resumeLimit: 100), storage: .numberedHere)
        #expect(
            step == .entered(joinEpoch: 0, localMembers: 1, welcome: .init(messages: (3...5).map(Self.message), recovered: nil, window: 5)))
        #expect(room.entering == 0 && room.localMembers == 1)
    }

    @Test func aResumeTheWindowCoversEntersAtOnceWithExactlyWhatIsNew() {
        var room = Self.room(last: 5, window: 3)
        room.startEntering()
        let step = room.join(.init(shard: 0, maxMembers: 0, since: 3, resumeLimit: 100), storage: .numberedHere)
        #expect(
            step == .entered(joinEpoch: 0, localMembers: 1, welcome: .init(messages: [Self.message(4), Self.message(5)], recovered: true)))
    }

    /// A gap before the window: read first. The member stays on its way in meanwhile (the
    /// room is not let go), and enters with the read part and the window merged.
    @Test func aResumeBeforeTheWindowReadsTheStoreFirstAndKeepsTheRoom() {
        var room = Self.room(last: 10, window: 3)
        room.startEntering()
        var joining = RoomState.Joining(shard: 0, maxMembers: 0, since: 4, resumeLimit: 100)
        let step1 = room.join(joining, storage: .numberedHere)
        #expect(step1 == .read(after: 4))
        #expect(room.entering == 1 && !room.isIdle)
        // The read (what the hub does off the loop), planned against the room as it is now.
        guard case let .read(after, count) = ResumePlan.nextRead(older: nil, after: 4, lastStored: 10, since: 4, limit: 100) else {
            Issue.record("no read planned")
            return
        }
        joining.older = ResumePlan.adding((after + 1...after + UInt64(count)).map(Self.message), to: nil, after: after, through: 10)
        let step = room.join(joining, storage: .numberedHere)
        #expect(step == .entered(joinEpoch: 0, localMembers: 1, welcome: .init(messages: (5...10).map(Self.message), recovered: true)))
        #expect(room.entering == 0)
    }

    /// Messages committed while the read ran: the join asks for another read from where the
    /// first one stopped, rather than entering with a hole.
    @Test func messagesArrivingDuringTheReadAreReadToo() {
        var room = Self.room(last: 10, window: 2)
        room.startEntering()
        var joining = RoomState.Joining(shard: 0, maxMembers: 0, since: 2, resumeLimit: 100)
        let step2 = room.join(joining, storage: .numberedHere)
        #expect(step2 == .read(after: 2))
        joining.older = ResumePlan.adding((3...10).map(Self.message), to: nil, after: 2, through: 10)
        for seq in UInt64(11)...14 {
            _ = room.numberNext()
            room.committed(Self.message(seq))
        }
        let step3 = room.join(joining, storage: .numberedHere)
        #expect(step3 == .read(after: 10))
        joining.older = ResumePlan.adding((11...14).map(Self.message), to: joining.older, after: 10, through: 14)
        let step = room.join(joining, storage: .numberedHere)
        #expect(step == .entered(joinEpoch: 0, localMembers: 1, welcome: .init(messages: (3...14).map(Self.message), recovered: true)))
    }

    /// The room filled while the member read: refused, and no longer counted as coming.
    @Test func aRoomThatFillsDuringTheReadRefusesAndLetsTheMemberGo() {
        var room = Self.room(last: 10, window: 3)
        room.startEntering()
        var joining = RoomState.Joining(shard: 0, maxMembers: 1, since: 1, resumeLimit: 100)
        let step4 = room.join(joining, storage: .numberedHere)
        #expect(step4 == .read(after: 1))
        room.startEntering()
        _ = room.join(.init(shard: 0, maxMembers: 1, since: nil, resumeLimit: 100), storage: .numberedHere)
        joining.older = ResumePlan.adding((2...10).map(Self.message), to: nil, after: 1, through: 10)
        let step5 = room.join(joining, storage: .numberedHere)
        #expect(step5 == .full)
        #expect(room.entering == 0 && room.localMembers == 1)
    }

    @Test func aFailedReadEntersUnrecoveredWithTheWindow() {
        var room = Self.room(last: 10, window: 3)
        room.startEntering()
        var joining = RoomState.Joining(shard: 0, maxMembers: 0, since: 1, resumeLimit: 100)
        let step6 = room.join(joining, storage: .numberedHere)
        #expect(step6 == .read(after: 1))
        joining.older = ResumePlan.adding(nil, to: nil, after: 1, through: 10)
        let step = room.join(joining, storage: .numberedHere)
        #expect(step == .entered(joinEpoch: 0, localMembers: 1, welcome: .init(messages: (8...10).map(Self.message), recovered: false)))
    }

    /// Without a store there is nothing to read: a resume before the window is not recovered.
    @Test func withoutAStoreAResumeBeforeTheWindowIsNotRecovered() {
        let room = Self.room(last: 10, window: 3)
        #expect(
            room.resume(since: 2, older: nil, limit: 100, storage: .none)
                == .welcome(.init(messages: (8...10).map(Self.message), recovered: false)))
        #expect(
            room.resume(since: 9, older: nil, limit: 100, storage: .none) == .welcome(.init(messages: [Self.message(10)], recovered: true)))
    }

    /// A cluster member resuming from a number this node has not delivered yet reads first.
    @Test func aClusterResumeAheadOfThisNodeReadsFirst() {
        var room = RoomState(historyWindow: 3, shardCount: 1, lastSeq: 10)
        room.startEntering()
        let step7 = room.join(.init(shard: 0, maxMembers: 0, since: 12, resumeLimit: 100), storage: .numberedByStore)
        #expect(step7 == .read(after: 12))
        #expect(room.storedSeq(.numberedByStore) == 10)
        #expect(room.storedSeq(.numberedHere) == 10)
    }

    /// A member abandoning its way in (its room was let go first) no longer holds the room.
    @Test func abandoningLetsTheRoomGoIdle() {
        var room = RoomState(historyWindow: 5, shardCount: 1)
        room.startEntering()
        #expect(!room.isIdle)
        room.abandonEntering()
        room.abandonEntering()
        #expect(room.isIdle && room.entering == 0)
    }
}
