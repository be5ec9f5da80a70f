import Testing

@testable import ChatCore

/// Issue 14, item 2: a connection's requests — quota on arrival, answers in order — without a socket.
@Suite struct RequestIntakeTests {
    typealias Intake = RequestIntake<String>

    @Test func anAnswerableConnectionAnswersAtOnceAndCutsOffAFloodAfterItsStrikes() {
        var intake = Intake(bound: 10_000, strikesAllowed: 3)
        #expect(intake.received("a", bytes: 1, admitted: true, answerable: true) == .handle("a"))
        for _ in 0..<3 { #expect(intake.received("x", bytes: 1, admitted: false, answerable: true) == .refuseRateLimited) }
        #expect(intake.received("x", bytes: 1, admitted: false, answerable: true) == .tooManyRequests)
        #expect(!intake.hasWaiting)
    }

    @Test func anAdmittedRequestForgivesTheStrikesBeforeIt() {
        var intake = Intake(bound: 10_000, strikesAllowed: 2)
        for _ in 0..<2 { _ = intake.received("x", bytes: 1, admitted: false, answerable: true) }
        #expect(intake.received("ok", bytes: 2, admitted: true, answerable: true) == .handle("ok"))
        #expect(intake.strikes == 0)
        for _ in 0..<2 { #expect(intake.received("x", bytes: 1, admitted: false, answerable: true) == .refuseRateLimited) }
    }

    /// The CI failure of issue 14: a flood while the join read the store piled up unrefused.
    /// Quota is taken on arrival, so the flooder is cut off while its join still waits.
    @Test func aFloodWhileTheJoinWaitsIsCutOffBeforeTheJoinIsAnswered() {
        var intake = Intake(bound: 1 << 30, strikesAllowed: 40)
        for i in 0..<20 { #expect(intake.received("m\(i)", bytes: 1, admitted: true, answerable: false) == .wait) }
        for _ in 0..<40 { #expect(intake.received("x", bytes: 1, admitted: false, answerable: false) == .wait) }
        #expect(intake.received("x", bytes: 1, admitted: false, answerable: false) == .tooManyRequests)
        #expect(intake.waitingCount == 60)
    }

    @Test func waitingRequestsAreAnsweredInTheirOrderRefusalsIncluded() {
        var intake = Intake(bound: 10_000, strikesAllowed: 5)
        #expect(intake.received("a", bytes: 1, admitted: true, answerable: false) == .wait)
        #expect(intake.received("x", bytes: 1, admitted: false, answerable: false) == .wait)
        // The socket caught up, but "a" and the refusal still wait: "b" goes behind them.
        #expect(intake.received("b", bytes: 1, admitted: true, answerable: true) == .wait)
        #expect(intake.next(bytes: \.utf8.count) == .handle("a"))
        #expect(intake.next(bytes: \.utf8.count) == .refuseRateLimited)
        #expect(intake.next(bytes: \.utf8.count) == .handle("b"))
        #expect(intake.next(bytes: \.utf8.count) == nil)
        #expect(intake.waitingCost == 0)
        #expect(intake.received("c", bytes: 1, admitted: true, answerable: true) == .handle("c"))
    }

    /// A one-byte frame costs its bytes plus the overhead: a bound in bytes cannot be filled
    /// with hundreds of thousands of tiny frames.
    @Test func eachWaitingRequestCostsItsBytesAndTheOverhead() {
        let each = 1 + Intake.overhead
        var intake = Intake(bound: 10 * each, strikesAllowed: 100)
        for _ in 0..<10 { #expect(intake.received("x", bytes: 1, admitted: true, answerable: false) == .wait) }
        #expect(intake.waitingCost == 10 * each)
        #expect(intake.received("x", bytes: 1, admitted: true, answerable: false) == .tooMuchWaiting)
    }

    @Test func hugeSizesSaturateInsteadOfTrapping() {
        var intake = Intake(bound: Int.max - 1, strikesAllowed: Int.max)
        #expect(intake.received("big", bytes: Int.max, admitted: true, answerable: false) == .tooMuchWaiting)
        #expect(intake.received("neg", bytes: -5, admitted: true, answerable: false) == .tooMuchWaiting)
        #expect(intake.waitingCost == Int.max)
    }
}
