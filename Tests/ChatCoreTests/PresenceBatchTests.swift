import Testing

@testable import ChatCore

@Suite struct PresenceBatchTests {
    @Test func smallRoomsAreToldAtOnce() {
        var batch = PresenceBatch()
        #expect(batch.joined("ann", members: PresenceBatch.threshold) == .now("ann joined"))
        #expect(batch.left("ann", members: 1) == .now("ann left"))
        #expect(batch.take() == nil)
    }

    @Test func bigRoomsGatherUntilTaken() {
        var batch = PresenceBatch()
        let big = PresenceBatch.threshold + 1
        #expect(batch.joined("ann", members: big) == .gathered(startTimer: true))
        // One timer per batch; a small room's change while gathering waits its turn too.
        #expect(batch.joined("bob", members: big) == .gathered(startTimer: false))
        #expect(batch.left("cy", members: 2) == .gathered(startTimer: false))
        #expect(batch.take() == "ann and bob joined; cy left")
        #expect(!batch.gathering)
        #expect(batch.joined("dee", members: 2) == .now("dee joined"))
    }

    @Test func aLoneChangeReadsAsInASmallRoom() {
        var batch = PresenceBatch()
        _ = batch.left("ann", members: 100)
        #expect(batch.take() == "ann left")
    }

    @Test func manyNamesAreCounted() {
        var batch = PresenceBatch()
        for n in 0..<10 { _ = batch.joined("u\(n)", members: 100 + n) }
        _ = batch.left("x", members: 100)
        _ = batch.left("y", members: 100)
        #expect(batch.take() == "u0, u1, u2 and 7 others joined; x and y left")
        for n in 0..<4 { _ = batch.joined("v\(n)", members: 100) }
        #expect(batch.take() == "v0, v1, v2 and 1 other joined")
    }
}
