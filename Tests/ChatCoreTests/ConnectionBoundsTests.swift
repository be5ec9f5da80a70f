import Testing

@testable import ChatCore

/// What a connection may owe and send past its quota, from its settings (issue 14, item 2).
@Suite struct ConnectionBoundsTests {
    @Test func owedIsFourSendBuffersPlusTheLargestReply() {
        var bounds = ConnectionBounds(sendBufferHigh: 1000, maxFrameBytes: 300, rateMessages: 20)
        #expect(bounds.owed == 4000 && bounds.waiting == 4300 && bounds.strikesAllowed == 40)
        #expect(!bounds.exceeded(buffered: 3000, heldReplies: 1000))
        #expect(bounds.exceeded(buffered: 3000, heldReplies: 1001))
        // A big resume reply raises the bound, so the client reading it is not closed for a
        // later error reply; a smaller one changes nothing.
        let grew = bounds.replied(bytes: 5000)
        #expect(grew)
        #expect(bounds.owed == 9000 && bounds.waiting == 9300)
        let grewAgain = bounds.replied(bytes: 10)
        #expect(!grewAgain)
        #expect(!bounds.exceeded(buffered: 8999, heldReplies: 1))
    }

    @Test func aReloadKeepsTheLargestReplyAndChangesTheRest() {
        var bounds = ConnectionBounds(sendBufferHigh: 1000, maxFrameBytes: 300, rateMessages: 20)
        bounds.replied(bytes: 500)
        bounds.reconfigure(sendBufferHigh: 10, maxFrameBytes: 5, rateMessages: 100)
        #expect(bounds.owed == 540 && bounds.waiting == 545 && bounds.strikesAllowed == 200)
    }

    /// Every value the configuration accepts, and garbage besides, gives a bound, not a trap.
    @Test func extremeSettingsSaturateInsteadOfTrapping() {
        var bounds = ConnectionBounds(sendBufferHigh: .max, maxFrameBytes: .max, rateMessages: .max)
        #expect(bounds.owed == .max && bounds.waiting == .max && bounds.strikesAllowed == .max)
        let saturated = bounds.replied(bytes: .max)
        #expect(saturated)
        #expect(!bounds.exceeded(buffered: .max, heldReplies: .max))
        let negative = ConnectionBounds(sendBufferHigh: -5, maxFrameBytes: -5, rateMessages: -5)
        #expect(negative.owed == 0 && negative.waiting == 0 && negative.strikesAllowed == 40)
        #expect(negative.exceeded(buffered: 1, heldReplies: -7))
        #expect(Int.max.saturatingAdd(1) == .max && Int.min.saturatingAdd(-1) == .min)
        #expect(Int.max.saturatingMultiply(-2) == .min && (-3).saturatingMultiply(-4) == 12)
    }
}
