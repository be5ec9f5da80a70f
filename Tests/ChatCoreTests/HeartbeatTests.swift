import Testing

@testable import ChatCore

/// Issue 14, item 2: the heartbeat and the close handshake without a socket.
@Suite struct HeartbeatStateTests {
    @Test func anAnsweredPingKeepsTheConnectionAndAnUnansweredOneEndsIt() {
        var beat = Heartbeat()
        #expect(beat.tick { 0x0102_0304_0506_0708 } == .ping([1, 2, 3, 4, 5, 6, 7, 8]))
        beat.pong([1, 2, 3, 4, 5, 6, 7, 8])
        #expect(beat.unanswered == nil)
        guard case .ping = beat.tick(random: { 42 }) else {
            Issue.record("an answered connection must be pinged again")
            return
        }
        #expect(beat.tick { 7 } == .terminate)
    }

    /// A client that reads nothing cannot answer: pongs of its own (empty, guessed, the
    /// previous ping's) do not count.
    @Test func onlyAPongEchoingTheLatestPingAnswersIt() {
        var beat = Heartbeat()
        _ = beat.tick { 1 }
        beat.pong([0, 0, 0, 0, 0, 0, 0, 1])
        _ = beat.tick { 2 }  // terminate: never answered in time
        var fresh = Heartbeat()
        _ = fresh.tick { 1 }
        fresh.pong([])
        fresh.pong([0, 0, 0, 0, 0, 0, 0, 2])
        fresh.pong([0, 0, 0, 0, 0, 0, 0, 1, 0])
        #expect(fresh.unanswered == [0, 0, 0, 0, 0, 0, 0, 1])
        #expect(fresh.tick { 3 } == .terminate)
        var late = Heartbeat()
        _ = late.tick { 1 }
        late.pong([0, 0, 0, 0, 0, 0, 0, 1])
        _ = late.tick { 2 }
        late.pong([0, 0, 0, 0, 0, 0, 0, 1])  // the previous ping's answer, again
        #expect(late.tick { 3 } == .terminate)
    }

    @Test func aCloseIsAnsweredWithItsCodeOrWhyItIsMalformed() {
        #expect(CloseHandshake.answer(toClose: [UInt8]()) == (1000, ""))
        #expect(CloseHandshake.answer(toClose: [0x03]) == (1002, "malformed close frame"))
        #expect(CloseHandshake.answer(toClose: [0x03, 0xE8]) == (1000, ""))
        #expect(CloseHandshake.answer(toClose: [0x0F, 0xA0] + Array("bye".utf8)) == (4000, ""))
        for reserved: UInt16 in [0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, .max] {
            #expect(CloseHandshake.answer(toClose: [UInt8(reserved >> 8), UInt8(reserved & 0xFF)]) == (1002, "invalid close code"))
        }
        #expect(CloseHandshake.answer(toClose: [0x03, 0xE8, 0xC3, 0x28]) == (1007, "close reason is not valid UTF-8"))
    }
}
