import Testing

@testable import ChatCore

/// Issue 14, item 2: resume planning without a store or a socket. `Driver` plays the hub: it
/// asks `readNeeded`, carries out the reads against an array standing for the table, and lets
/// the room move on between reads as concurrent senders would.
@Suite struct ResumePlanTests {
    static func message(_ seq: UInt64) -> ChatMessage {
        ChatMessage(id: "m\(seq)", seq: seq, room: "r", from: "a", text: "t\(seq)", sentAt: "")
    }

    /// A room with messages 1...last stored and the newest `window` of them in memory.
    struct Table {
        var stored: [ChatMessage]
        var window: Int
        var last: UInt64 { stored.last?.seq ?? 0 }
        var windowMessages: [ChatMessage] { Array(stored.suffix(window)) }

        init(last: UInt64, window: Int, deleted: Set<UInt64> = []) {
            stored = (1...max(last, 1)).filter { !deleted.contains($0) && $0 <= last }.map(ResumePlanTests.message)
            self.window = window
        }

        var view: ResumePlan.Room {
            ResumePlan.Room(
                windowFirst: windowMessages.first?.seq, lastStored: last, delivered: last, hasStore: true,
                storeNumbersMessages: false)
        }

        func rows(after: UInt64, count: Int) -> [ChatMessage] {
            Array(stored.filter { $0.seq > after }.prefix(count))
        }

        mutating func append(_ count: Int) {
            let first = last + 1
            for seq in first..<(first + UInt64(count)) { stored.append(ResumePlanTests.message(seq)) }
        }
    }

    /// Plans and reads until the member can enter, as `Hub.enter` does; `between` runs after
    /// each read (messages arriving meanwhile), `fail` makes reads fail.
    static func resume(
        since: UInt64, table: inout Table, limit: Int = 1000, fail: Bool = false,
        between: (inout Table) -> Void = { _ in }
    ) -> (ResumePlan.Welcome, reads: Int) {
        var older: ResumePlan.OlderPart?
        var reads = 0
        while let after = ResumePlan.readNeeded(since: since, older: older, limit: limit, room: table.view) {
            switch ResumePlan.nextRead(older: older, after: after, lastStored: table.last, since: since, limit: limit) {
            case let .done(part):
                older = part
            case let .read(from, count):
                reads += 1
                older = ResumePlan.adding(
                    fail ? nil : table.rows(after: from, count: count), to: older, after: from,
                    through: table.last)
            }
            between(&table)
            #expect(reads < 100, "the reads never meet the window")
            if reads >= 100 { break }
        }
        return (ResumePlan.welcome(since: since, window: table.windowMessages, lastSeq: table.last, older: older), reads)
    }

    @Test func aResumeTheWindowCoversReadsNothing() {
        var table = Table(last: 100, window: 50)
        let (welcome, reads) = Self.resume(since: 70, table: &table)
        #expect(reads == 0)
        #expect(welcome == .init(messages: (71...100).map(Self.message), recovered: true))
    }

    @Test func aResumeAtTheLastNumberGetsNothingAndOneBeyondItIsNotRecovered() {
        var table = Table(last: 100, window: 50)
        #expect(Self.resume(since: 100, table: &table).0 == .init(messages: [], recovered: true))
        let beyond = Self.resume(since: 101, table: &table).0
        #expect(beyond.recovered == false && beyond.messages == table.windowMessages)
    }

    @Test func anOlderResumeReadsTheGapOnceAndIsExact() {
        var table = Table(last: 100, window: 50)
        let (welcome, reads) = Self.resume(since: 10, table: &table)
        #expect(reads == 1)
        #expect(welcome == .init(messages: (11...100).map(Self.message), recovered: true))
    }

    /// Senders keep the room moving while the store is read: each read is followed by more
    /// messages than the window holds, twice, then quiet. The resume reads again until the
    /// window and what was read meet, and stays exact.
    @Test func messagesArrivingDuringTheReadAreReadToo() {
        var table = Table(last: 100, window: 5)
        var bursts = 2
        let (welcome, reads) = Self.resume(since: 10, table: &table) { table in
            if bursts > 0 {
                table.append(20)
                bursts -= 1
            }
        }
        #expect(reads == 3)
        #expect(welcome == .init(messages: (11...140).map(Self.message), recovered: true))
    }

    /// The boundary: the window starts two after `since`, so exactly one message is missing.
    @Test func aGapOfOneMessageIsRead() {
        var table = Table(last: 100, window: 50)
        let (welcome, reads) = Self.resume(since: 49, table: &table)
        #expect(reads == 1)
        #expect(welcome == .init(messages: (50...100).map(Self.message), recovered: true))
    }

    @Test func aGapOverTheLimitOrAFailedReadIsNotRecovered() {
        var table = Table(last: 2000, window: 50)
        let (over, overReads) = Self.resume(since: 10, table: &table, limit: 1000)
        #expect(overReads == 0 && over.recovered == false && over.messages == table.windowMessages)
        let (failed, failedReads) = Self.resume(since: 1500, table: &table, fail: true)
        #expect(failedReads == 1 && failed.recovered == false && failed.messages == table.windowMessages)
    }

    @Test func aMessageDeletedInTheGapIsAHoleNotASilentSkip() {
        var table = Table(last: 100, window: 50, deleted: [11])
        let welcome = Self.resume(since: 10, table: &table).0
        #expect(welcome.recovered == false)
        // A deletion further on is no hole at the resume point: the rest is exact.
        var later = Table(last: 100, window: 50, deleted: [30])
        let exact = Self.resume(since: 10, table: &later).0
        #expect(exact.recovered == true && exact.messages.map(\.seq) == (11...100).filter { $0 != 30 })
    }

    /// In a cluster the client may have seen numbers on another node that this one has not
    /// delivered yet: the first read catches up from `since` even though the window is short.
    @Test func aClusterResumeAheadOfThisNodeCatchesUpFirst() {
        let room = ResumePlan.Room(windowFirst: 51, lastStored: 100, delivered: 100, hasStore: true, storeNumbersMessages: true)
        #expect(ResumePlan.readNeeded(since: 120, older: nil, limit: 1000, room: room) == 120)
        let caught = ResumePlan.OlderPart(through: 120)
        #expect(ResumePlan.readNeeded(since: 120, older: caught, limit: 1000, room: room) == nil)
    }

    /// `since` is the client's: the largest number plans and answers without a trap.
    @Test func extremeSinceValuesNeverTrap() {
        for storeNumbersMessages in [false, true] {
            let room = ResumePlan.Room(
                windowFirst: 1, lastStored: 10, delivered: 10, hasStore: true,
                storeNumbersMessages: storeNumbersMessages)
            var older: ResumePlan.OlderPart?
            if let after = ResumePlan.readNeeded(since: .max, older: nil, limit: .max, room: room) {
                if case let .done(part) = ResumePlan.nextRead(older: nil, after: after, lastStored: 10, since: .max, limit: .max) {
                    older = part
                }
                #expect(ResumePlan.readNeeded(since: .max, older: older, limit: .max, room: room) == nil)
            }
            let welcome = ResumePlan.welcome(since: .max, window: (1...10).map(Self.message), lastSeq: 10, older: older)
            #expect(welcome.recovered == false)
        }
        #expect(
            ResumePlan.nextRead(older: nil, after: 0, lastStored: .max, since: 0, limit: .max)
                == .done(.init(through: 0, failed: true)))
    }

    @Test func noStoreMeansTheWindowOnly() {
        let room = ResumePlan.Room(windowFirst: 51, lastStored: 100, delivered: 100, hasStore: false, storeNumbersMessages: false)
        #expect(ResumePlan.readNeeded(since: 10, older: nil, limit: 1000, room: room) == nil)
    }
}
