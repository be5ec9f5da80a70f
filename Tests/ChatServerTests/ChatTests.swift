import ChatClient
import Foundation
import Testing

/// Point 4 of the chat core: the article's protocol over real sockets.
@Suite struct ChatTests {
    @Test func welcomeIsSystemThenHistoryThenPresence() async throws {
        let s = try await TestServer.start()
        let c = try await WebSocketClient.connect(to: s.url("token=dev-token&name=masa&room=r1"), origin: "http://localhost:8080")
        let system = try await c.nextObject()
        #expect(system["type"] as? String == "system")
        #expect(system["message"] as? String == "connected as masa")
        #expect((system["clientId"] as? String)?.count == 36)
        let history = try await c.nextObject()
        #expect(history["type"] as? String == "history")
        #expect((history["messages"] as? [Any])?.isEmpty == true)
        let presence = try await c.nextObject()
        #expect(presence["type"] as? String == "presence")
        #expect(presence["message"] as? String == "masa joined")
        #expect(presence["online"] as? Int == 1)
        await c.close()
        try await s.stop()
    }

    @Test func messagesFanOutToTheRoomSenderIncluded() async throws {
        let s = try await TestServer.start()
        let a = try await s.join(name: "alice", room: "r1")
        let b = try await s.join(name: "bob", room: "r1")
        let other = try await s.join(name: "carol", room: "r2")
        let joined = try await a.nextJSON(type: "presence")
        #expect(joined["message"] as? String == "bob joined" && joined["online"] as? Int == 2)

        try await a.sendJSON("hello <b>room</b>")
        for client in [a, b] {
            let event = try await client.nextJSON(type: "message")
            let m = try #require(event["message"] as? [String: Any])
            #expect(m["text"] as? String == "hello <b>room</b>")
            #expect(m["from"] as? String == "alice")
            #expect(m["room"] as? String == "r1")
            #expect((m["id"] as? String)?.count == 36)
            #expect(m["seq"] as? Int == 1)
            let sentAt = try #require(m["sentAt"] as? String)
            #expect(sentAt.hasSuffix("Z") && sentAt.count == 24)
        }
        // The other room hears nothing: its next event is our probe's own echo.
        try await other.sendJSON("probe")
        let next = try await other.nextJSON(type: "message")
        #expect((next["message"] as? [String: Any])?["text"] as? String == "probe")
        for c in [a, b, other] { await c.close() }
        try await s.stop()
    }

    @Test func presenceOnLeave() async throws {
        let s = try await TestServer.start()
        let a = try await s.join(name: "alice")
        let b = try await s.join(name: "bob")
        _ = try await a.nextJSON(type: "presence")
        await b.close()
        let left = try await a.nextJSON(type: "presence")
        #expect(left["message"] as? String == "bob left")
        #expect(left["online"] as? Int == 1)
        await a.close()
        try await s.stop()
    }

    @Test func historyHoldsTheLastWindowForNewcomers() async throws {
        let s = try await TestServer.start { $0.history.window = 3 }
        let a = try await s.join()
        for n in 1...5 {
            try await a.sendJSON("m\(n)")
            _ = try await a.nextJSON(type: "message")
        }
        let b = try await WebSocketClient.connect(to: s.url("token=dev-token&name=late"), origin: "http://localhost:8080")
        let history = try await b.nextJSON(type: "history")
        let texts = (history["messages"] as? [[String: Any]])?.compactMap { $0["text"] as? String }
        #expect(texts == ["m3", "m4", "m5"])
        for c in [a, b] { await c.close() }
        try await s.stop()
    }

    @Test(arguments: [
        ("not json", "bad_json"), ("null", "bad_type"), (#"{"type":"shout"}"#, "bad_type"),
        (#"{"type":"message","text":"   "}"#, "empty"), (#"{"type":"message","text":5}"#, "bad_field"),
        (#"{"type":"message","text":"\#(String(repeating: "x", count: 501))"}"#, "too_large"),
    ])
    func badInputGetsAnErrorAndKeepsTheConnection(input: String, code: String) async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await c.send(text: input)
        let error = try await c.nextJSON(type: "error")
        #expect(error["code"] as? String == code)
        #expect((error["message"] as? String)?.isEmpty == false)
        try await c.sendJSON("still here")
        let m = try await c.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["text"] as? String == "still here")
        await c.close()
        try await s.stop()
    }

    @Test func clientPingGetsPong() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await c.send(text: #"{"type":"ping"}"#)
        _ = try await c.nextJSON(type: "pong")
        await c.close()
        try await s.stop()
    }

    @Test func rateLimitIsTwentyPerWindow() async throws {
        let s = try await TestServer.start { $0.limits.rateWindowSeconds = 600 }
        let c = try await s.join()
        for n in 1...21 { try await c.sendJSON("n\(n)") }
        var delivered = 0
        var limited = 0
        while delivered + limited < 21 {
            let event = try await c.nextObject()
            switch event["type"] as? String {
            case "message": delivered += 1
            case "error":
                #expect(event["code"] as? String == "rate_limited")
                limited += 1
            default: break
            }
        }
        #expect(delivered == 20 && limited == 1)
        await c.close()
        try await s.stop()
    }

    @Test func sanitisedNamesAndRooms() async throws {
        let s = try await TestServer.start()
        let c = try await WebSocketClient.connect(
            to: s.url("token=dev-token&name=%3Cimg%20src%3Dx%3E&room=..%2Fetc"), origin: "http://localhost:8080")
        let system = try await c.nextJSON(type: "system")
        #expect(system["message"] as? String == "connected as guest")
        try await c.sendJSON("x")
        let m = try await c.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["room"] as? String == "lobby")
        await c.close()
        try await s.stop()
    }

    @Test func binaryFramesClose1003() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await c.send(opcode: .binary, [1, 2, 3])
        #expect(try await c.nextClose() == 1003)
        try await s.stop()
    }

    @Test func oversizedFramesClose1009() async throws {
        let s = try await TestServer.start { $0.limits.maxFrameBytes = 1024 }
        let c = try await s.join()
        try await c.send(text: String(repeating: "a", count: 2000))
        #expect(try await c.nextClose() == 1009)
        try await s.stop()
    }

    @Test func oversizedFragmentedMessagesClose1009() async throws {
        let s = try await TestServer.start { $0.limits.maxFrameBytes = 1024 }
        let c = try await s.join()
        try await c.send(opcode: .text, Array(repeating: 0x61, count: 800), fin: false)
        try await c.send(opcode: .continuation, Array(repeating: 0x61, count: 800), fin: true)
        #expect(try await c.nextClose() == 1009)
        try await s.stop()
    }

    @Test func fragmentedMessagesAreReassembled() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await c.send(opcode: .text, Array(#"{"type":"message","#.utf8), fin: false)
        try await c.send(opcode: .continuation, Array(#""text":"in parts"}"#.utf8), fin: true)
        let m = try await c.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["text"] as? String == "in parts")
        await c.close()
        try await s.stop()
    }

    @Test func invalidUTF8Closes1007() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await c.send(opcode: .text, [0x7B, 0xC3, 0x28, 0x7D])
        #expect(try await c.nextClose() == 1007)
        try await s.stop()
    }

    @Test func unmaskedFramesClose1002() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await c.sendRaw([0x81, 0x02, 0x68, 0x69])  // "hi", FIN text, no mask bit
        #expect(try await c.nextClose() == 1002)
        try await s.stop()
    }

    @Test func aBadClientLosesNothingForOthers() async throws {
        let s = try await TestServer.start()
        let good = try await s.join(name: "good")
        try await good.sendJSON("kept")
        _ = try await good.nextJSON(type: "message")
        let bad = try await s.join(name: "bad")
        try await bad.send(opcode: .text, [0xFF])
        #expect(try await bad.nextClose() == 1007)
        try await good.sendJSON("after")
        let m = try await good.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["text"] as? String == "after")
        let late = try await WebSocketClient.connect(to: s.url("token=dev-token&name=late"), origin: "http://localhost:8080")
        let history = try await late.nextJSON(type: "history")
        #expect((history["messages"] as? [[String: Any]])?.compactMap { $0["text"] as? String } == ["kept", "after"])
        for c in [good, late] { await c.close() }
        try await s.stop()
    }

    @Test func closeIsEchoed() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await c.send(opcode: .connectionClose, [0x0F, 0xA0])  // 4000
        #expect(try await c.nextClose() == 4000)
        try await s.stop()
    }
}

@Suite struct FragmentFloodTests {
    @Test func tooManyFragmentsClose1009AndOthersCarryOn() async throws {
        let s = try await TestServer.start { $0.limits.maxFragments = 8 }
        let bystander = try await s.join(name: "bystander")
        let flooder = try await s.join(name: "flooder")
        try await flooder.send(opcode: .text, [0x7B], fin: false)
        // The server closes mid-flood, so later sends may fail: that is the point.
        for _ in 0..<20 { try? await flooder.send(opcode: .continuation, [0x20], fin: false) }
        #expect(try await flooder.nextClose() == 1009)
        try await bystander.sendJSON("unbothered")
        let m = try await bystander.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["text"] as? String == "unbothered")
        await bystander.close()
        try await s.stop()
    }
}
