import ChatClient
import ChatConfig
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Limits across connections: per address, per user, in all; handshake time and header size.
@Suite struct LimitsTests {
    func connect(_ s: TestServer, name: String = "n", token: String = "dev-token") async throws -> WebSocketClient {
        let c = try await WebSocketClient.connect(to: s.url("token=\(token)&name=\(name)"), origin: "http://localhost:8080")
        _ = try await c.nextJSON(type: "presence")
        return c
    }

    func refusal(_ s: TestServer, token: String = "dev-token") async -> Int? {
        do {
            let c = try await WebSocketClient.connect(to: s.url("token=\(token)"), origin: "http://localhost:8080")
            await c.close()
            return nil
        } catch let ClientError.rejected(status, _) {
            return status
        } catch {
            return -1
        }
    }

    @Test func connectionsPerAddressAre429BeyondTheCap() async throws {
        let s = try await TestServer.start { $0.limits.maxConnectionsPerIP = 2 }
        let a = try await connect(s)
        let b = try await connect(s)
        #expect(await refusal(s) == 429)
        await a.close()
        // A freed slot is usable again once the close has landed.
        let deadline = ContinuousClock.now + .seconds(5)
        var status: Int? = 429
        while status == 429, ContinuousClock.now < deadline { status = await refusal(s) }
        #expect(status == nil)
        await b.close()
        try await s.stop()
    }

    @Test func upgradeAttemptsPerMinuteCountRefusedOnesToo() async throws {
        let s = try await TestServer.start { $0.limits.upgradesPerMinutePerIP = 3 }
        #expect(await refusal(s, token: "guess1") == 401)
        #expect(await refusal(s, token: "guess2") == 401)
        #expect(await refusal(s, token: "guess3") == 401)
        // The fourth attempt in the minute is refused before the token is even looked at.
        #expect(await refusal(s, token: "dev-token") == 429)
        #expect(s.server.metricsText().contains("chatd_upgrades_total{result=\"429\"} 1"))
        try await s.stop()
    }

    @Test func theGlobalCapIs503() async throws {
        let s = try await TestServer.start { $0.limits.maxConnections = 1 }
        let a = try await connect(s)
        #expect(await refusal(s) == 503)
        await a.close()
        try await s.stop()
    }

    @Test func perUserLimitSpansConnections() async throws {
        let s = try await TestServer.start {
            $0.limits.userRateMessages = 3
            $0.limits.rateWindowSeconds = 600
        }
        let one = try await connect(s, name: "same")
        let two = try await connect(s, name: "same")
        let other = try await connect(s, name: "other")
        for c in [one, two, one] {
            try await c.sendJSON("ok")
            _ = try await c.nextJSON(type: "message")
        }
        try await two.sendJSON("fourth")
        #expect(try await two.nextJSON(type: "error")["code"] as? String == "rate_limited")
        // Another user on the same token is not affected.
        try await other.sendJSON("mine")
        let mine: Bool = try await other.next { event in
            if case let .text(t) = event, t.contains("\"text\":\"mine\"") { return true }
            if case let .text(t) = event, t.contains("\"type\":\"error\"") { return false }
            return nil
        }
        #expect(mine)
        for c in [one, two, other] { await c.close() }
        try await s.stop()
    }

    @Test func perAddressMessageLimit() async throws {
        let s = try await TestServer.start {
            $0.limits.ipRateMessages = 2
            $0.limits.rateWindowSeconds = 600
        }
        let a = try await connect(s, name: "a")
        let b = try await connect(s, name: "b")
        try await a.sendJSON("1")
        _ = try await a.nextJSON(type: "message")
        try await b.sendJSON("2")
        _ = try await b.nextJSON(type: "message")
        try await b.sendJSON("3")
        #expect(try await b.nextJSON(type: "error")["code"] as? String == "rate_limited")
        for c in [a, b] { await c.close() }
        try await s.stop()
    }

    @Test func slowHandshakesAreCut() async throws {
        let s = try await TestServer.start { $0.limits.handshakeTimeoutSeconds = 0.3 }
        // Half a request line, then nothing: the server closes.
        let closed = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: s.port).get()
        // On a loaded machine the timeout may already have closed it: that is a pass as well.
        try? await closed.writeAndFlush(ByteBuffer(string: "GET /chat?tok"))
        try await closed.closeFuture.get()
        try await s.stop()
    }

    @Test func oversizedOrCrowdedHeadersAre400() async throws {
        let s = try await TestServer.start {
            $0.limits.maxHeaderBytes = 1024
            $0.limits.maxHeaders = 16
        }
        let many = (0..<40).map { "X-H\($0): v\r\n" }.joined()
        #expect(try await s.http("GET / HTTP/1.1\r\nHost: x\r\n\(many)\r\n").head.status == 400)
        let big = "X-Big: " + String(repeating: "a", count: 4000) + "\r\n"
        #expect(try await s.http("GET / HTTP/1.1\r\nHost: x\r\n\(big)\r\n").head.status == 400)
        // Within the limits: fine.
        #expect(try await s.http("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").head.status == 200)
        try await s.stop()
    }
}
