import ChatClient
import ChatConfig
import ChatCore
import Crypto
import Foundation
import Testing

/// Several rooms per connection, and authorization on every action against the credential
/// and the room rules in force.
@Suite struct RoomsTests {
    static func sha256(_ s: String) -> String { SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined() }

    func connect(_ s: TestServer, _ query: String) async throws -> WebSocketClient {
        let c = try await WebSocketClient.connect(to: s.url(query), origin: "http://localhost:8080")
        _ = try await c.nextJSON(type: "presence")  // its own arrival, after the welcome
        return c
    }

    func text(_ event: [String: Any]) -> String? { (event["message"] as? [String: Any])?["text"] as? String }

    @Test func joinSendAndLeaveSeveralRooms() async throws {
        let s = try await TestServer.start()
        let a = try await connect(s, "token=dev-token&name=a&room=lobby")
        let b = try await connect(s, "token=dev-token&name=b&room=side")
        try await a.send(text: #"{"type":"join","room":"side"}"#)
        #expect(try await a.nextJSON(type: "joined")["room"] as? String == "side")
        let history = try await a.nextJSON(type: "history")
        #expect(history["room"] as? String == "side")
        let presence = try await b.nextJSON(type: "presence")
        #expect(presence["room"] as? String == "side" && presence["online"] as? Int == 2)

        try await a.send(text: #"{"type":"message","room":"side","text":"to side"}"#)
        let got = try await b.nextJSON(type: "message")
        #expect(text(got) == "to side" && (got["message"] as? [String: Any])?["room"] as? String == "side")
        // Without `room`, the upgrade room is meant: b is not in lobby, so it sees nothing of it.
        try await a.sendJSON("to lobby")
        let own = try await a.nextJSON(type: "message")
        #expect(text(own) == "to side")
        #expect(text(try await a.nextJSON(type: "message")) == "to lobby")

        try await b.send(text: #"{"type":"message","room":"lobby","text":"x"}"#)
        #expect(try await b.nextJSON(type: "error")["code"] as? String == "not_joined")
        try await a.send(text: #"{"type":"leave","room":"side"}"#)
        let left = try await a.nextJSON(type: "left")
        #expect(left["room"] as? String == "side" && left["reason"] as? String == "request")
        #expect(try await b.nextJSON(type: "presence")["online"] as? Int == 1)
        try await a.send(text: #"{"type":"history","room":"side"}"#)
        #expect(try await a.nextJSON(type: "error")["code"] as? String == "not_joined")
        await a.close()
        await b.close()
        try await s.stop()
    }

    @Test func roomRulesServerOnlyModeratorsAndCapacity() async throws {
        let s = try await TestServer.start {
            $0.auth.moderatorTokens = ["mod-token"]
            $0.rooms.rules = [
                "dash-*": RoomRule(send: .server),
                "staff": RoomRule(join: .moderators),
                "announce": RoomRule(send: .moderators),
                "small": RoomRule(maxMembers: 1),
            ]
        }
        let user = try await connect(s, "token=dev-token&name=u")
        let mod = try await connect(s, "token=mod-token&name=m")
        try await user.send(text: #"{"type":"join","room":"dash-cpu"}"#)
        _ = try await user.nextJSON(type: "history")
        try await user.send(text: #"{"type":"message","room":"dash-cpu","text":"x"}"#)
        #expect(try await user.nextJSON(type: "error")["code"] as? String == "read_only")
        try await user.send(text: #"{"type":"join","room":"staff"}"#)
        #expect(try await user.nextJSON(type: "error")["code"] as? String == "forbidden")
        try await mod.send(text: #"{"type":"join","room":"staff"}"#)
        #expect(try await mod.nextJSON(type: "joined")["room"] as? String == "staff")
        for c in [user, mod] {
            try await c.send(text: #"{"type":"join","room":"announce"}"#)
            _ = try await c.nextJSON(type: "history")
        }
        try await user.send(text: #"{"type":"message","room":"announce","text":"x"}"#)
        #expect(try await user.nextJSON(type: "error")["code"] as? String == "read_only")
        try await mod.send(text: #"{"type":"message","room":"announce","text":"hear ye"}"#)
        #expect(text(try await user.nextJSON(type: "message")) == "hear ye")
        try await user.send(text: #"{"type":"join","room":"small"}"#)
        _ = try await user.nextJSON(type: "history")
        try await mod.send(text: #"{"type":"join","room":"small"}"#)
        #expect(try await mod.nextJSON(type: "error")["code"] as? String == "room_full")
        // A room rule at the upgrade refuses there, with no upgrade.
        await #expect(throws: ClientError.rejected(status: 403, body: "room not allowed for this credential\n")) {
            _ = try await WebSocketClient.connect(to: s.url("token=dev-token&room=staff"), origin: "http://localhost:8080")
        }
        await user.close()
        await mod.close()
        try await s.stop()
    }

    @Test func hashedCredentialsNameTheUserAndLimitTheRooms() async throws {
        var alice = Config.Credential()
        alice.tokenSHA256 = Self.sha256("alice-secret")
        alice.rooms = ["team-*"]
        let s = try await TestServer.start {
            $0.auth.tokens = []
            $0.auth.credentials = ["alice": alice]
            $0.limits.maxRoomsPerConnection = 2
        }
        await #expect(throws: ClientError.rejected(status: 403, body: "room not allowed for this credential\n")) {
            _ = try await WebSocketClient.connect(to: s.url("token=alice-secret&room=lobby"), origin: "http://localhost:8080")
        }
        await #expect(throws: ClientError.rejected(status: 401, body: "missing or invalid token\n")) {
            _ = try await WebSocketClient.connect(to: s.url("token=\(alice.tokenSHA256)&room=team-a"), origin: "http://localhost:8080")
        }
        let c = try await WebSocketClient.connect(to: s.url("token=alice-secret&name=mallory&room=team-a"), origin: "http://localhost:8080")
        #expect(try await c.nextJSON(type: "system")["message"] as? String == "connected as alice")
        try await c.send(text: #"{"type":"join","room":"lobby"}"#)
        #expect(try await c.nextJSON(type: "error")["code"] as? String == "forbidden")
        try await c.send(text: #"{"type":"join","room":"team-b"}"#)
        _ = try await c.nextJSON(type: "joined")
        try await c.send(text: #"{"type":"join","room":"team-c"}"#)
        #expect(try await c.nextJSON(type: "error")["code"] as? String == "too_many_rooms")

        // A reload that narrows the credential's rooms takes it out of the others, and later
        // actions there are refused; the connection itself stays.
        var narrowed = s.config
        narrowed.auth.credentials["alice"]?.rooms = ["team-a"]
        let r = await s.server.reload(to: .success(narrowed))
        #expect(r.ok && r.revoked == 0)
        let left = try await c.nextJSON(type: "left")
        #expect(left["room"] as? String == "team-b" && left["reason"] as? String == "forbidden")
        try await c.send(text: #"{"type":"message","room":"team-b","text":"x"}"#)
        #expect(try await c.nextJSON(type: "error")["code"] as? String == "not_joined")
        try await c.sendJSON("still in team-a")
        #expect(text(try await c.nextJSON(type: "message")) == "still in team-a")

        // Dropping the credential ends the session.
        var revoked = narrowed
        revoked.auth.credentials = [:]
        revoked.auth.tokens = ["other"]
        #expect(await s.server.reload(to: .success(revoked)).revoked == 1)
        #expect(try await c.nextClose() == 1008)
        try await s.stop()
    }
}
