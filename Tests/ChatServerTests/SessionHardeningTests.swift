import ChatClient
import ChatConfig
import Crypto
import Foundation
import JWTKit
import Testing

@testable import ChatServer

/// Issue 13's session and hub findings: rooms are let go when they empty, `limits.max_rooms`
/// holds, moderation of idle rooms keeps their windows, mutes and kicks follow identities,
/// invisible text is empty, and a signed `exp` far in the future cannot trap.
@Suite struct SessionHardeningTests {
    func heldRooms(_ s: TestServer) -> Int { s.server.core.hub.rooms.withLockedValue { $0.count } }

    func texts(_ history: [String: Any]) -> [String] {
        (history["messages"] as? [[String: Any]])?.compactMap { $0["text"] as? String } ?? []
    }

    @Test func roomsAreLetGoWhenEmptyAndComeBackWithTheirHistory() async throws {
        let s = try await TestServer.start {
            // Every join and leave is a frame against the rate limit.
            $0.limits.rateMessages = 100_000
            $0.limits.userRateMessages = 100_000
            $0.limits.ipRateMessages = 100_000
        }
        s.server.core.hub.idleRoomsKept.store(8, ordering: .relaxed)
        let c = try await s.join(name: "walker", room: "lobby")
        let before = heldRooms(s)
        // 300 rooms joined and left: none of them is held afterwards.
        for i in 0..<300 {
            try await c.send(text: #"{"type":"join","room":"r\#(i)"}"#)
            _ = try await c.nextJSON(type: "history")
            try await c.send(text: #"{"type":"leave","room":"r\#(i)"}"#)
            _ = try await c.nextJSON(type: "left")
        }
        // The newest few idle rooms are kept for reuse (8 here, and a quarter more at most).
        #expect(heldRooms(s) <= before + 10)
        s.server.core.hub.idleRoomsKept.store(0, ordering: .relaxed)
        // A room let go continues its numbering and window from the store.
        try await c.send(text: #"{"type":"join","room":"kept"}"#)
        _ = try await c.nextJSON(type: "history")
        try await c.send(text: #"{"type":"message","room":"kept","text":"first"}"#)
        let first = try await c.nextJSON(type: "message")
        try await c.send(text: #"{"type":"leave","room":"kept"}"#)
        _ = try await c.nextJSON(type: "left")
        #expect(s.server.core.hub.existingRoom("kept") == nil)
        try await c.send(text: #"{"type":"join","room":"kept"}"#)
        let history = try await c.nextJSON(type: "history")
        #expect(texts(history) == ["first"])
        try await c.send(text: #"{"type":"message","room":"kept","text":"second"}"#)
        let second = try await c.nextJSON(type: "message")
        let seq = { (e: [String: Any]) in (e["message"] as? [String: Any])?["seq"] as? Int }
        #expect(seq(first) == 1 && seq(second) == 2)
        await c.close()
        try await s.stop()
    }

    @Test func maxRoomsRefusesNewRoomsWithServerFull() async throws {
        let s = try await TestServer.start { $0.limits.maxRooms = 2 }
        s.server.core.hub.idleRoomsKept.store(0, ordering: .relaxed)
        let c = try await s.join(name: "a", room: "lobby")
        try await c.send(text: #"{"type":"join","room":"two"}"#)
        _ = try await c.nextJSON(type: "history")
        try await c.send(text: #"{"type":"join","room":"three"}"#)
        let refused = try await c.nextJSON(type: "error")
        #expect(refused["code"] as? String == "server_full")
        // The rooms in use still work, and a room let go makes space.
        try await c.send(text: #"{"type":"message","room":"two","text":"still here"}"#)
        #expect((try await c.nextJSON(type: "message")["message"] as? [String: Any])?["text"] as? String == "still here")
        try await c.send(text: #"{"type":"leave","room":"two"}"#)
        _ = try await c.nextJSON(type: "left")
        try await c.send(text: #"{"type":"join","room":"three"}"#)
        _ = try await c.nextJSON(type: "history")
        await c.close()
        try await s.stop()
    }

    @Test func deletingInAnIdleRoomKeepsItsWindowForLaterJoiners() async throws {
        let s = try await TestServer.start()
        s.server.core.hub.idleRoomsKept.store(0, ordering: .relaxed)
        let author = try await s.join(name: "author", room: "quiet")
        for text in ["one", "two", "three"] {
            try await author.sendJSON(text)
            _ = try await author.nextJSON(type: "message")
        }
        await author.close()
        // Wait for the room to be let go (the close is seen on the server's loop).
        let deadline = ContinuousClock.now + .seconds(5)
        while s.server.core.hub.existingRoom("quiet") != nil, ContinuousClock.now < deadline {
            _ = await s.server.core.hub.onEveryLoop { _ in 0 }
        }
        #expect(s.server.core.hub.existingRoom("quiet") == nil)
        guard case .success = await s.server.deleteMessage(room: "quiet", seq: 2, actor: "test", reason: "spam") else {
            Issue.record("delete failed")
            return
        }
        let reader = try await WebSocketClient.connect(to: s.url("token=dev-token&name=reader&room=quiet"), origin: "http://localhost:8080")
        #expect(texts(try await reader.nextJSON(type: "history")) == ["one", "three"])
        await reader.close()
        try await s.stop()
    }

    static func sha256(_ s: String) -> String { SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined() }

    @Test func mutesAndKicksFollowTheIdentityNotTheName() async throws {
        let s = try await TestServer.start {
            var alice = Config.Credential()
            alice.tokenSHA256 = Self.sha256("alice-secret")
            alice.guestNames = true
            $0.auth.credentials["alice"] = alice
        }
        let alice = try await WebSocketClient.connect(to: s.url("token=alice-secret&name=alice"), origin: "http://localhost:8080")
        _ = try await alice.nextJSON(type: "presence")
        let impostor = try await s.join(name: "alice")  // a guest of the plain token, calling itself alice
        _ = await s.server.restrict(.mute, user: "alice", seconds: nil, actor: "test", reason: "spam")
        try await alice.sendJSON("muted?")
        #expect(try await alice.nextJSON(type: "error")["code"] as? String == "muted")
        try await impostor.sendJSON("not me")
        #expect((try await impostor.nextJSON(type: "message")["message"] as? [String: Any])?["text"] as? String == "not me")
        // Coming back under another name does not lift the mute.
        await alice.close()
        let renamed = try await WebSocketClient.connect(to: s.url("token=alice-secret&name=someone"), origin: "http://localhost:8080")
        _ = try await renamed.nextJSON(type: "presence")
        try await renamed.sendJSON("still muted?")
        #expect(try await renamed.nextJSON(type: "error")["code"] as? String == "muted")
        // `chatctl connections` shows the identity; kick by it closes only that identity.
        let listed = await s.server.connections(room: nil)
        // The credential, not the name it chose: copying the column mutes what renaming cannot escape.
        #expect(listed.first { $0.name == "someone" }?.user == "credential:alice")
        let guest = try #require(listed.first { $0.name == "alice" }?.user)
        #expect(guest.hasPrefix("token:") && guest.hasSuffix(":alice"))
        #expect(await s.server.kick(connection: nil, user: "credential:alice", reason: "bye") == 1)
        #expect(try await renamed.nextClose() == 1008)
        try await impostor.sendJSON("still chatting")
        _ = try await impostor.nextJSON(type: "message")
        await impostor.close()
        try await s.stop()
    }

    @Test func aClientThatKeepsSendingPastItsRateLimitIsCutOff() async throws {
        let s = try await TestServer.start()  // 20 per 10 s: 40 refusals in a row are allowed
        let flooder = try await s.join(name: "flooder")
        let witness = try await s.join(name: "witness", room: "calm")
        // Sends past the cut-off fail: the server has closed by then.
        // Enough that a slow machine, refilling a token now and then, still reaches 41 in a row.
        for i in 0..<300 { try? await flooder.send(text: "{\"type\":\"message\",\"text\":\"\(i)\"}") }
        var limited = 0
        let closed: (UInt16?, String) = try await flooder.next(timeout: .seconds(10)) { event in
            if case let .text(t) = event, t.contains("rate_limited") { limited += 1 }
            if case let .close(code, reason) = event { return (code, reason) }
            return nil
        }
        #expect(closed.0 == 1008 && closed.1 == "too many messages: slow down")
        // 40 answered, then the 41st refusal closes; a slow machine may refill a token mid-burst,
        // which lets one through and starts the count again.
        #expect(limited >= 40 && limited < 280)
        try await witness.sendJSON("unbothered")
        _ = try await witness.nextJSON(type: "message")
        await witness.close()
        try await s.stop()
    }

    /// A masked text frame with a zero key (payload as is), for writing several in one packet.
    static func maskedText(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        return frame + [0, 0, 0, 0] + payload
    }

    /// Issue 13: a ping flood is answered with one pong per read and then cut off, like a
    /// text flood; a witness keeps chatting.
    @Test func aPingFloodIsCutOff() async throws {
        let s = try await TestServer.start()
        let flooder = try await s.join(name: "pinger")
        let witness = try await s.join(name: "witness", room: "calm")
        let ping: [UInt8] = [0x89, 0x80 | 4, 0, 0, 0, 0] + Array("ping".utf8)
        try await flooder.sendRaw(Array((0..<500).map { _ in ping }.joined()))
        var pongs = 0
        let closed: (UInt16?, String) = try await flooder.next(timeout: .seconds(10)) { event in
            if case .pong = event { pongs += 1 }
            if case let .close(code, reason) = event { return (code, reason) }
            return nil
        }
        #expect(closed.0 == 1008 && closed.1 == "too many messages: slow down")
        #expect(pongs >= 16 && pongs < 100)
        // A few pings now and then are answered one by one and never add up.
        let calm = try await s.join(name: "calm-pinger", room: "calm")
        for _ in 0..<60 {
            try await calm.send(opcode: .ping, Array("hi".utf8))
            _ = try await calm.next { event -> Bool? in if case .pong = event { return true } else { return nil } }
        }
        try await witness.sendJSON("unbothered")
        _ = try await witness.nextJSON(type: "message")
        await calm.close()
        await witness.close()
        try await s.stop()
    }

    /// Two resumes asked for in one packet, each many times the send buffer: the second waits
    /// until the first has drained and is then answered (it used to close the client with 1008).
    @Test func twoBigResumesInARowAreBothServed() async throws {
        let s = try await TestServer.start {
            $0.limits.sendBufferBytes = 4096  // the outbound bound is four of these: 16 KiB
            $0.limits.rateMessages = 100_000
            $0.limits.userRateMessages = 100_000
            $0.limits.ipRateMessages = 100_000
        }
        let long = String(repeating: "x", count: 490)
        for room in ["big-a", "big-b"] {
            let writer = try await s.join(name: "writer", room: room)
            for i in 0..<150 { try await writer.sendJSON("\(i) \(long)") }
            _ = try await writer.next(timeout: .seconds(20)) { event -> Bool? in
                if case let .text(t) = event, t.contains("\"149 x") { return true }
                return nil
            }
            await writer.close()
        }
        let reader = try await s.join(name: "reader", room: "quiet")
        try await reader.sendRaw(
            Self.maskedText(#"{"type":"join","room":"big-a","since":0}"#)
                + Self.maskedText(#"{"type":"join","room":"big-b","since":0}"#))
        var served: [String: Int] = [:]
        while served.count < 2 {
            let event = try await reader.next(timeout: .seconds(10))
            if case let .close(code, reason) = event {
                Issue.record("closed \(code.map(String.init) ?? "-") \(reason)")
                break
            }
            guard case let .text(t) = event, t.hasPrefix(#"{"type":"history""#) else { continue }
            let object = try #require(try JSONSerialization.jsonObject(with: Data(t.utf8)) as? [String: Any])
            served[object["room"] as? String ?? "?"] = texts(object).count
        }
        #expect(served == ["big-a": 150, "big-b": 150])
        try await reader.sendJSON("still here")
        _ = try await reader.nextJSON(type: "message")
        await reader.close()
        try await s.stop()
    }

    @Test func textWithNothingVisibleIsEmpty() async throws {
        let s = try await TestServer.start()
        let c = try await s.join(name: "ghost")
        for text in ["\u{200B}\u{200B}", "\u{3164}", "\u{E0041}\u{E0042}", "\u{2800} \u{FEFF}", "\u{180E}\u{2060}"] {
            let json = String(decoding: try JSONSerialization.data(withJSONObject: ["type": "message", "text": text]), as: UTF8.self)
            try await c.send(text: json)
            #expect(
                try await c.nextJSON(type: "error")["code"] as? String == "empty",
                "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        try await c.sendJSON("visible")
        _ = try await c.nextJSON(type: "message")
        await c.close()
        try await s.stop()
    }

    @Test(arguments: [1e16, 1e300, 253_402_300_800.0])
    func aSignedExpFarInTheFutureDoesNotTrap(exp: Double) async throws {
        let s = try await TestServer.start { $0.auth.jwt = JWTSessionTests.jwtConfig() }
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: JWTSessionTests.secret), digestAlgorithm: .sha256)
        let token = try await keys.sign(
            JWTSessionTests.Claims(
                exp: .init(value: Date(timeIntervalSince1970: exp)),
                sub: .init(value: "u-far"), name: "far"))
        // Accepted (with the expiry clamped) or refused with a 401: never a trap.
        do {
            let c = try await WebSocketClient.connect(to: s.url("token=\(token)"), origin: "http://localhost:8080")
            _ = try await c.nextJSON(type: "presence")
            try await c.sendJSON("still alive")
            _ = try await c.nextJSON(type: "message")
            await c.close()
        } catch let ClientError.rejected(status, _) {
            #expect(status == 401)
        }
        // The server is still there for everyone else.
        let witness = try await s.join(name: "witness")
        await witness.close()
        try await s.stop()
    }
}
