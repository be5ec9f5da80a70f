import Testing

@testable import ChatCore

/// Issue 14, item 2: a connection's requests — quota on arrival, per frame; answers in
/// order — without a socket.
@Suite struct RequestIntakeTests {
    typealias Intake = RequestIntake<String>

    /// One unfragmented message: its one frame's verdict, then the message.
    static func message(_ intake: inout Intake, _ text: String, admitted: Bool, answerable: Bool) -> Intake.Action? {
        guard intake.frame(admitted: admitted) else { return nil }
        return intake.received(text, bytes: text.utf8.count, answerable: answerable)
    }

    @Test func anAnswerableConnectionAnswersAtOnceAndCutsOffAFloodAfterItsStrikes() {
        var intake = Intake(bound: 10_000, strikesAllowed: 3)
        #expect(Self.message(&intake, "a", admitted: true, answerable: true) == .handle("a"))
        for _ in 0..<3 { #expect(Self.message(&intake, "x", admitted: false, answerable: true) == .refuseRateLimited) }
        #expect(Self.message(&intake, "x", admitted: false, answerable: true) == nil)  // close
        #expect(!intake.hasWaiting)
    }

    @Test func anAdmittedFrameForgivesTheStrikesBeforeIt() {
        var intake = Intake(bound: 10_000, strikesAllowed: 2)
        for _ in 0..<2 { _ = Self.message(&intake, "x", admitted: false, answerable: true) }
        #expect(Self.message(&intake, "ok", admitted: true, answerable: true) == .handle("ok"))
        #expect(intake.strikes == 0)
        for _ in 0..<2 { #expect(Self.message(&intake, "x", admitted: false, answerable: true) == .refuseRateLimited) }
    }

    /// The review's finding: a message in 128 frames cost one strike, so a flood of fragments
    /// was never closed. Each frame is a verdict now; one refused frame refuses the message.
    @Test func everyFragmentCostsQuotaAndOneRefusedFragmentRefusesTheMessage() {
        var intake = Intake(bound: 10_000, strikesAllowed: 40)
        var verdicts = (0..<3).map { _ in intake.frame(admitted: true) }
        verdicts.append(intake.frame(admitted: false))
        #expect(verdicts == [true, true, true, true])
        #expect(intake.received("fragmented", bytes: 10, answerable: true) == .refuseRateLimited)
        // The next message starts clean.
        #expect(Self.message(&intake, "next", admitted: true, answerable: true) == .handle("next"))
        // Fragments past the quota are strikes: 128 of them close long before the message ends.
        var fragmentsTaken = 0
        while intake.frame(admitted: false) { fragmentsTaken += 1 }
        #expect(fragmentsTaken == 40)
    }

    /// The CI failure of issue 14: a flood while the join read the store piled up unrefused.
    /// Quota is taken on arrival, so the flooder is cut off while its join still waits.
    @Test func aFloodWhileTheJoinWaitsIsCutOffBeforeTheJoinIsAnswered() {
        var intake = Intake(bound: 1 << 30, strikesAllowed: 40)
        for i in 0..<20 { #expect(Self.message(&intake, "m\(i)", admitted: true, answerable: false) == .wait) }
        for _ in 0..<40 { #expect(Self.message(&intake, "x", admitted: false, answerable: false) == .wait) }
        #expect(Self.message(&intake, "x", admitted: false, answerable: false) == nil)
        #expect(intake.waitingCount == 60)
    }

    @Test func waitingRequestsAreAnsweredInTheirOrderRefusalsIncluded() {
        var intake = Intake(bound: 10_000, strikesAllowed: 5)
        #expect(Self.message(&intake, "a", admitted: true, answerable: false) == .wait)
        #expect(Self.message(&intake, "x", admitted: false, answerable: false) == .wait)
        // The socket caught up, but "a" and the refusal still wait: "b" goes behind them.
        #expect(Self.message(&intake, "b", admitted: true, answerable: true) == .wait)
        #expect(intake.next(bytes: \.utf8.count) == .handle("a"))
        #expect(intake.next(bytes: \.utf8.count) == .refuseRateLimited)
        #expect(intake.next(bytes: \.utf8.count) == .handle("b"))
        #expect(intake.next(bytes: \.utf8.count) == nil)
        #expect(intake.waitingCost == 0)
        #expect(Self.message(&intake, "c", admitted: true, answerable: true) == .handle("c"))
    }

    /// A one-byte frame costs its bytes plus the overhead: a bound in bytes cannot be filled
    /// with hundreds of thousands of tiny frames.
    @Test func eachWaitingRequestCostsItsBytesAndTheOverhead() {
        let each = 1 + Intake.overhead
        var intake = Intake(bound: 10 * each, strikesAllowed: 100)
        for _ in 0..<10 { #expect(Self.message(&intake, "x", admitted: true, answerable: false) == .wait) }
        #expect(intake.waitingCost == 10 * each)
        #expect(Self.message(&intake, "x", admitted: true, answerable: false) == .tooMuchWaiting)
    }

    @Test func hugeSizesSaturateInsteadOfTrapping() {
        var intake = Intake(bound: Int.max - 1, strikesAllowed: Int.max)
        #expect(intake.received("big", bytes: Int.max, answerable: false) == .tooMuchWaiting)
        #expect(intake.received("neg", bytes: -5, answerable: false) == .tooMuchWaiting)
        #expect(intake.waitingCost == Int.max)
    }
}
