import ChatClient
import ChatConfig
import ChatCore
import ChatStore
import Foundation
import Testing

@testable import ChatServer

/// Deletes, mutes and erasure, against live clients and against history, with the audit log.
@Suite struct ModerationTests {
    func seq(_ event: [String: Any]) -> Int? { (event["message"] as? [String: Any])?["seq"] as? Int }

    func history(_ s: TestServer) async throws -> [String] {
        let c = try await WebSocketClient.connect(to: s.url("token=dev-token&name=observer"), origin: "http://localhost:8080")
        let h = try await c.nextJSON(type: "history")
        await c.close()
        return (h["messages"] as? [[String: Any]])?.compactMap { $0["text"] as? String } ?? []
    }

    @Test func moderatorsDeleteAnyMessageAndEveryMemberIsTold() async throws {
        let s = try await TestServer.start { $0.auth.moderatorTokens = ["mod-token"] }
        let user = try await s.join(name: "user")
        let mod = try await WebSocketClient.connect(to: s.url("token=mod-token&name=mod"), origin: "http://localhost:8080")
        _ = try await mod.nextJSON(type: "presence")
        try await user.sendJSON("rude")
        let sent = try #require(seq(try await user.nextJSON(type: "message")))
        try await mod.send(text: #"{"type":"delete","seq":\#(sent)}"#)
        for c in [user, mod] {
            let deleted = try await c.nextJSON(type: "deleted")
            #expect(deleted["seq"] as? Int == sent && deleted["room"] as? String == "lobby")
        }
        #expect(try await history(s) == [])
        let audit = await s.server.auditLog(since: 0)
        #expect(audit.count == 1 && audit[0].action == "delete" && audit[0].actor.hasPrefix("mod (moderator"))
        for c in [user, mod] { await c.close() }
        try await s.stop()
    }

    @Test func usersMayDeleteOnlyTheirOwnWithinTheWindow() async throws {
        let s = try await TestServer.start()
        let alice = try await s.join(name: "alice")
        let bob = try await s.join(name: "bob")
        try await alice.sendJSON("alice's")
        let mine = try #require(seq(try await alice.nextJSON(type: "message")))
        // Someone else's: forbidden, and the message stays.
        try await bob.send(text: #"{"type":"delete","seq":\#(mine)}"#)
        #expect(try await bob.nextJSON(type: "error")["code"] as? String == "forbidden")
        // A name alone is not authorship: the same name on another connection works only
        // with the same token, which is the case here, so it is the author.
        try await alice.send(text: #"{"type":"delete","seq":\#(mine)}"#)
        #expect(try await alice.nextJSON(type: "deleted")["seq"] as? Int == mine)
        // Unknown sequence numbers: not_found.
        try await alice.send(text: #"{"type":"delete","seq":999}"#)
        #expect(try await alice.nextJSON(type: "error")["code"] as? String == "not_found")
        for c in [alice, bob] { await c.close() }
        try await s.stop()
    }

    @Test func authorDeletesCloseWhenTheWindowIsZero() async throws {
        let s = try await TestServer.start { $0.moderation.authorDeleteSeconds = 0 }
        let alice = try await s.join(name: "alice")
        try await alice.sendJSON("permanent")
        let mine = try #require(seq(try await alice.nextJSON(type: "message")))
        try await alice.send(text: #"{"type":"delete","seq":\#(mine)}"#)
        #expect(try await alice.nextJSON(type: "error")["code"] as? String == "forbidden")
        #expect(try await history(s) == ["permanent"])
        await alice.close()
        try await s.stop()
    }

    @Test func mutedUsersGetAnErrorUntilUnmutedOrExpired() async throws {
        let s = try await TestServer.start()
        let troll = try await s.join(name: "troll")
        _ = await s.server.restrict(.mute, user: "guest:troll", seconds: nil, actor: "test", reason: "spam")
        try await troll.sendJSON("spam")
        #expect(try await troll.nextJSON(type: "error")["code"] as? String == "muted")
        #expect(await s.server.lift(.mute, user: "guest:troll", actor: "test", reason: "served").lifted)
        #expect(await !s.server.lift(.mute, user: "guest:troll", actor: "test", reason: "again").lifted)
        try await troll.sendJSON("sorry")
        _ = try await troll.nextJSON(type: "message")
        // A timed mute ends by itself.
        // 1 s: "too soon" must still land inside it when every suite runs at once on two cores.
        _ = await s.server.restrict(.mute, user: "guest:troll", seconds: 1, actor: "test", reason: "short")
        try await troll.sendJSON("too soon")
        #expect(try await troll.nextJSON(type: "error")["code"] as? String == "muted")
        let deadline = ContinuousClock.now + .seconds(10)
        var delivered = false
        while !delivered, ContinuousClock.now < deadline {
            try await troll.sendJSON("later")
            let event = try await troll.nextObject()
            delivered = event["type"] as? String == "message"
            // A timer is what ends the mute; polling faster would only run into the rate limit
            // (and, past 40 refusals in a row, its cut-off).
            if !delivered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(delivered)
        #expect(await s.server.auditLog(since: 0).map(\.action) == ["mute", "unmute", "mute"])
        await troll.close()
        try await s.stop()
    }

    @Test func purgeUserErasesEverythingTheyWroteEverywhere() async throws {
        let s = try await TestServer.start()
        let gone = try await s.join(name: "gone", room: "r1")
        let other = try await s.join(name: "other", room: "r1")
        let elsewhere = try await s.join(name: "gone", room: "r2")
        for (c, text) in [(gone, "one"), (other, "keep"), (gone, "two"), (elsewhere, "three")] {
            try await c.sendJSON(text)
            _ = try await c.nextJSON(type: "message")
        }
        let result = await s.server.purge(user: "gone", actor: "test", reason: "erasure request")
        #expect(try result.get() == 3)
        // Live members are told; history keeps only the others' messages.
        #expect(try await other.nextJSON(type: "deleted")["seq"] as? Int == 1)
        let r1 = try await WebSocketClient.connect(to: s.url("token=dev-token&name=x&room=r1"), origin: "http://localhost:8080")
        let h = try await r1.nextJSON(type: "history")
        #expect((h["messages"] as? [[String: Any]])?.compactMap { $0["text"] as? String } == ["keep"])
        #expect(await s.server.auditLog(since: 0).last?.target == "gone: 3 messages")
        for c in [gone, other, elsewhere, r1] { await c.close() }
        try await s.stop()
    }

    /// More than one part (`Moderation.purgePart`): every part is erased, the count is the sum.
    @Test func aLargePurgeErasesEveryPart() async throws {
        let path = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)/history.sqlite"
        let count = 2 * Moderation.purgePart + 7
        do {
            let store = try SQLiteStore(path: path)
            try await store.append(
                (1...count).map {
                    ChatMessage(
                        id: "m\($0)", seq: UInt64($0), room: "r\($0 % 3)", from: "gone", text: "x", sentAt: "2026-12-04T00:00:00.000Z")
                })
        }
        let s = try await TestServer.start { $0.history.path = path }
        let result = await s.server.purge(user: "gone", actor: "test", reason: "erasure request")
        #expect(try result.get() == count)
        #expect(await s.server.auditLog(since: 0).last?.target == "gone: \(count) messages")
        let r0 = try await WebSocketClient.connect(to: s.url("token=dev-token&name=x&room=r0"), origin: "http://localhost:8080")
        #expect((try await r0.nextJSON(type: "history")["messages"] as? [Any])?.isEmpty == true)
        await r0.close()
        try await s.stop()
    }

    @Test func operatorDeleteOfAMissingMessageIsNotFound() async throws {
        let s = try await TestServer.start()
        let r = await s.server.deleteMessage(room: "lobby", seq: 5, actor: "test", reason: "")
        #expect(throws: (any Error).self) { try r.get() }
        try await s.stop()
    }
}

/// Bans: the identity's connections closed with 1008 "banned", its upgrades refused with 403,
/// and, stored with the history, still so after a restart; mutes too.
@Suite struct BanTests {
    @Test func aBanClosesRefusesAndOutlivesARestart() async throws {
        let path = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)/history.sqlite"
        let s = try await TestServer.start { $0.history.path = path }
        let troll = try await s.join(name: "troll")
        let other = try await s.join(name: "other")
        let applied = await s.server.restrict(.ban, user: "guest:troll", seconds: nil, actor: "test", reason: "abuse")
        #expect(applied.target == "guest:troll" && applied.closed == 1 && applied.notStored == nil)
        let closed: (UInt16?, String) = try await troll.next { if case let .close(c, r) = $0 { return (c, r) } else { return nil } }
        #expect(closed.0 == 1008 && closed.1 == "banned")
        try await other.sendJSON("still here")
        _ = try await other.nextJSON(type: "message")
        let refused = ClientError.rejected(status: 403, body: "banned: this identity may not connect\n")
        await #expect(throws: refused) { _ = try await s.join(name: "troll") }
        _ = await s.server.restrict(.mute, user: "guest:other", seconds: 3600, actor: "test", reason: "loud")
        await other.close()
        try await s.stop()

        let again = try await TestServer.start { $0.history.path = path }
        await #expect(throws: refused) { _ = try await again.join(name: "troll") }
        let muted = try await again.join(name: "other")
        try await muted.sendJSON("muted?")
        #expect(try await muted.nextJSON(type: "error")["code"] as? String == "muted")
        #expect(try await again.server.restrictions(.ban).map(\.actor) == ["test"])
        #expect(await again.server.lift(.ban, user: "guest:troll", actor: "test", reason: "appeal").lifted)
        let back = try await again.join(name: "troll")
        #expect(await again.server.auditLog(since: 0).map(\.action) == ["ban", "mute", "unban"])
        for c in [muted, back] { await c.close() }
        try await again.stop()
    }
}
