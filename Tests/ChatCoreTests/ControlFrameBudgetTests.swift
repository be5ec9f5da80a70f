import Testing

@testable import ChatCore

/// Pings and pongs per read pass without a socket (issue 14, item 2).
@Suite struct ControlFrameBudgetTests {
    let perRead = ControlFrameBudget.perRead

    @Test func theFirstPingsOfAReadAreAnsweredThenOnlyTheNewestAtItsEnd() {
        var budget = ControlFrameBudget()
        var answers = (0..<perRead).map { _ in budget.ping(writable: true, strikesAllowed: 40) }
        #expect(answers.allSatisfy { $0 == .now })
        answers = [budget.ping(writable: true, strikesAllowed: 40)]
        #expect(answers == [.atEndOfRead])
        #expect(budget.strikes == 1)
        budget.endOfRead()
        #expect(budget.strikes == 1)  // that read had too many: not forgiven
        answers = [budget.ping(writable: true, strikesAllowed: 40)]
        #expect(answers == [.now])
        budget.endOfRead()
        #expect(budget.strikes == 0)
    }

    /// A socket that is behind gets one pong per read, and that is no strike.
    @Test func behindTheSocketPingsWaitForTheEndOfTheReadWithoutStrikes() {
        var budget = ControlFrameBudget()
        let answers = (0..<3).map { _ in budget.ping(writable: false, strikesAllowed: 0) }
        #expect(answers == [.atEndOfRead, .atEndOfRead, .atEndOfRead])
        #expect(budget.strikes == 0)
    }

    @Test func readsThatKeepBringingTooManyPingsClose() {
        var budget = ControlFrameBudget()
        var answers: [ControlFrameBudget.PingAnswer] = []
        for _ in 0..<3 {
            for _ in 0...perRead { answers.append(budget.ping(writable: true, strikesAllowed: 2)) }
            budget.endOfRead()
        }
        #expect(answers.filter { $0 == .close }.count == 1)
        #expect(answers.last == .close)
    }

    @Test func pongFloodsCountLikePingFloodsAndAnsweringPongsNever() {
        var flood = ControlFrameBudget()
        var closed = false
        for _ in 0..<3 where !closed {
            for _ in 0...perRead where !closed { closed = flood.pong(strikesAllowed: 2) }
            flood.endOfRead()
        }
        #expect(closed)
        var calm = ControlFrameBudget()
        var calmClosed = false
        for _ in 0..<1000 {
            calmClosed = calmClosed || calm.pong(strikesAllowed: 0)
            calm.endOfRead()
        }
        #expect(!calmClosed)
    }
}
