import ChatClient
import ChatConfig
import ChatServer
import Foundation
import Testing

/// Reload: atomic apply, revocation with 1008, no drops otherwise; invalid files keep the old config.
@Suite struct ReloadTests {
    /// The running configuration of `s` with `change` applied, as an edited file would be.
    func config(_ s: TestServer, _ change: (inout Config) -> Void) -> Config {
        var c = s.config
        change(&c)
        return c
    }

    @Test func aReloadThatRevokesNothingDropsNoOneEvenMidConversation() async throws {
        let s = try await TestServer.start {
            $0.auth.tokens = ["dev-token"]
            $0.limits.rateMessages = 1000
        }
        let a = try await s.join(name: "a")
        let b = try await s.join(name: "b")
        // Both keep sending while reloads happen; every message reaches both, in order.
        let sender = Task {
            for n in 0..<40 { try await a.sendJSON("m\(n)") }
        }
        for _ in 0..<3 {
            let r = await s.server.reload(
                to: .success(
                    config(s) {
                        $0.auth.tokens = ["dev-token", "new"]
                        $0.limits.rateMessages = 999
                    }))
            #expect(r.ok && r.revoked == 0)
        }
        try await sender.value
        for client in [a, b] {
            var texts: [String] = []
            while texts.count < 40 {
                let m = try await client.nextJSON(type: "message")
                texts.append((m["message"] as? [String: Any])?["text"] as? String ?? "")
            }
            #expect(texts == (0..<40).map { "m\($0)" })
        }
        for c in [a, b] { await c.close() }
        try await s.stop()
    }

    @Test func revokedTokensCloseTheirSessionsWith1008() async throws {
        let s = try await TestServer.start { $0.auth.tokens = ["keep", "drop"] }
        let kept = try await WebSocketClient.connect(to: s.url("token=keep&name=kept"), origin: "http://localhost:8080")
        let dropped = try await WebSocketClient.connect(to: s.url("token=drop&name=dropped"), origin: "http://localhost:8080")
        _ = try await dropped.nextJSON(type: "presence")
        let r = await s.server.reload(to: .success(config(s) { $0.auth.tokens = ["keep"] }))
        #expect(r.ok && r.revoked == 1 && r.applied == ["auth.tokens"])
        let closed: (UInt16?, String) = try await dropped.next { event in
            if case let .close(code, reason) = event { return (code, reason) }
            return nil
        }
        #expect(closed.0 == 1008 && closed.1 == "credential revoked")
        try await kept.sendJSON("still here")
        let m = try await kept.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["text"] as? String == "still here")
        // New upgrades follow the new list at once.
        await #expect(throws: ClientError.rejected(status: 401, body: "missing or invalid token\n")) {
            _ = try await WebSocketClient.connect(to: s.url("token=drop"), origin: "http://localhost:8080")
        }
        await kept.close()
        try await s.stop()
    }

    @Test func anInvalidFileKeepsTheRunningConfiguration() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        let error = ConfigError(
            kind: .outOfRange, file: "/etc/chatd/chatd.toml", line: 3, key: "limits.rate_messages", message: "must be at least 1, got -5")
        let r = await s.server.reload(to: .failure(error))
        #expect(!r.ok)
        #expect(r.error == "/etc/chatd/chatd.toml:3: limits.rate_messages: must be at least 1, got -5")
        #expect(s.server.status().configGeneration == 1)
        #expect(s.server.status().lastReload == r)
        try await c.sendJSON("unaffected")
        _ = try await c.nextJSON(type: "message")
        await c.close()
        try await s.stop()
    }

    @Test func newLimitsApplyToExistingConnections() async throws {
        let s = try await TestServer.start { $0.limits.rateWindowSeconds = 600 }
        let c = try await s.join()
        let r = await s.server.reload(
            to: .success(
                config(s) {
                    $0.limits.rateMessages = 2
                    $0.limits.rateWindowSeconds = 600
                }))
        #expect(r.ok && r.applied == ["limits.rate_messages"])
        for n in 0..<3 { try await c.sendJSON("n\(n)") }
        let error = try await c.nextJSON(type: "error")
        #expect(error["code"] as? String == "rate_limited")
        await c.close()
        try await s.stop()
    }

    @Test func listenAddressesAreNamedAsNeedingARestart() async throws {
        let s = try await TestServer.start()
        let r = await s.server.reload(to: .success(config(s) { $0.server.listen = [ListenAddress(host: "127.0.0.1", port: 1)] }))
        #expect(r.ok && r.needsRestart == ["server.listen"] && r.applied.isEmpty)
        // Still serving on the old address.
        let c = try await s.join()
        await c.close()
        try await s.stop()
    }

    @Test func kickByIdAndByUser() async throws {
        let s = try await TestServer.start()
        let a = try await s.join(name: "alice")
        let b1 = try await s.join(name: "bob")
        let b2 = try await s.join(name: "bob")
        let list = await s.server.connections(room: nil)
        #expect(list.count == 3)
        let aliceID = try #require(list.first { $0.name == "alice" }?.id)
        #expect(await s.server.kick(connection: aliceID, user: nil, reason: "spam") == 1)
        let closedA: (UInt16?, String) = try await a.next { if case let .close(c, r) = $0 { return (c, r) } else { return nil } }
        #expect(closedA.0 == 1008 && closedA.1 == "spam")
        // By identity: a bare name is a credential's, so it matches no guest of a plain token.
        #expect(await s.server.kick(connection: nil, user: "bob", reason: "bye") == 0)
        #expect(await s.server.kick(connection: nil, user: "guest:bob", reason: "bye") == 2)
        #expect(try await b1.nextClose() == 1008)
        #expect(try await b2.nextClose() == 1008)
        #expect(await s.server.kick(connection: "nope", user: nil, reason: "x") == 0)
        try await s.stop()
    }

    @Test func statusAndRooms() async throws {
        let s = try await TestServer.start()
        let c = try await s.join(room: "r9")
        try await c.sendJSON("x")
        _ = try await c.nextJSON(type: "message")
        let status = s.server.status()
        #expect(status.connections == 1 && status.rooms == 1 && status.messagesIn == 1 && status.ready)
        #expect(s.server.rooms() == [RoomSummary(name: "r9", members: 1, lastSeq: 1)])
        let metrics = s.server.metricsText()
        #expect(metrics.contains("chatd_messages_received_total 1"))
        #expect(metrics.contains("chatd_upgrades_total{result=\"accepted\"} 1"))
        await c.close()
        try await s.stop()
    }
}
