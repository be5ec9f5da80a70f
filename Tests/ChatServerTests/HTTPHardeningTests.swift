import ChatClient
import ChatConfig
import Crypto
import Foundation
import Logging
import NIOCore
import Testing

@testable import ChatServer

/// Issue 13, items 3, 8 and 10 on real sockets: caps before the upgrade, wrong publish keys,
/// the metrics listener's timeouts and pipelining, and the control socket's line handling.
@Suite struct HTTPHardeningTests {
    /// A chatd with its metrics listener and control socket, on ephemeral ports.
    struct Running {
        let server: ChatServer
        let bound: ChatServer.Bound
        var port: Int { bound.http[0].port! }
        var metricsPort: Int { bound.metrics!.port! }

        func stop() async throws { try await server.shutdown(drain: .seconds(2)) }
    }

    static func start(_ configure: (inout Config) -> Void = { _ in }) async throws -> Running {
        var config = Config()
        let dir = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)"
        config.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        config.auth.allowedOrigins = ["http://localhost:8080"]
        config.metrics.listen = ListenAddress(host: "127.0.0.1", port: 0)
        config.control.socket = dir + "/control.sock"
        config.history.path = dir + "/history.sqlite"
        configure(&config)
        let server = try ChatServer(config: config, webRoot: TestServer.webRoot, logger: Logger(label: "chatd-test"), threads: 2)
        return Running(server: server, bound: try await server.startAll())
    }

    static func get(_ path: String, extra: String = "") -> String { "GET \(path) HTTP/1.1\r\nHost: x\r\n\(extra)\r\n" }

    // MARK: Caps before the upgrade (item 8)

    @Test func pendingConnectionsPerAddressAreClosedAtAccept() async throws {
        let s = try await Self.start { $0.limits.maxPendingPerIP = 3 }
        var held: [RawConnection] = []
        for _ in 0..<3 { held.append(try await RawConnection.open(port: s.port)) }
        // Each of the three is served (and stays pending: it has not upgraded)…
        for c in held {
            try await c.send(Self.get("/healthz"))
            #expect(try await c.response()?.status == 200)
        }
        // …and a fourth from the same address is closed before anything is read.
        let over = try await RawConnection.open(port: s.port)
        #expect(await over.closedByServer(within: .seconds(5)))
        #expect(s.server.metricsText().contains(#"chatd_connections_refused_total{reason="pending_per_ip"} 1"#))
        // One of them upgrading frees its place.
        try await held[0].send(HTTPKeepAliveTests().upgrade())
        #expect(try await held[0].switchingProtocols()?.hasPrefix("HTTP/1.1 101") == true)
        let next = try await RawConnection.open(port: s.port)
        try await next.send(Self.get("/healthz"))
        #expect(try await next.response()?.status == 200)
        for c in held + [next] { await c.close() }
        try await s.stop()
    }

    /// A pending connection's place is given back once: by its upgrade or by its close,
    /// never both (`ConnectionEnd`), so the count neither leaks nor goes below zero.
    @Test func aPendingPlaceIsGivenBackOnceByUpgradeOrClose() async throws {
        let s = try await Self.start { $0.limits.maxPendingPerIP = 2 }
        let pending = { s.server.core.limits.pendingConnections }
        let upgrading = try await RawConnection.open(port: s.port)
        let closing = try await RawConnection.open(port: s.port)
        for c in [upgrading, closing] {
            try await c.send(Self.get("/healthz"))
            #expect(try await c.response()?.status == 200)
        }
        #expect(pending() == 2)
        try await upgrading.send(HTTPKeepAliveTests().upgrade())
        #expect(try await upgrading.switchingProtocols()?.hasPrefix("HTTP/1.1 101") == true)
        try await Self.until { pending() == 1 }
        await closing.close()
        try await Self.until { pending() == 0 }
        // The upgraded connection's close gives back nothing more.
        await upgrading.close()
        try await Self.until { s.server.status().connections == 0 }
        let probe = try await RawConnection.open(port: s.port)
        try await probe.send(Self.get("/healthz"))
        #expect(try await probe.response()?.status == 200)
        #expect(pending() == 1)
        await probe.close()
        try await s.stop()
    }

    /// Waits for a state change made on an event loop (polled: nothing announces it).
    static func until(_ condition: () -> Bool, within: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + within
        while !condition() {
            guard ContinuousClock.now < deadline else { throw ClientError.timeout("condition not met") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func aTrustedProxyIsCappedByTheTotalOnly() async throws {
        let s = try await Self.start {
            $0.server.trustedProxies = ["127.0.0.1"]
            $0.limits.maxPendingPerIP = 1
            $0.limits.maxPendingConnections = 3
        }
        var held: [RawConnection] = []
        for _ in 0..<3 {
            let c = try await RawConnection.open(port: s.port)
            try await c.send(Self.get("/healthz"))
            #expect(try await c.response()?.status == 200)
            held.append(c)
        }
        let over = try await RawConnection.open(port: s.port)
        #expect(await over.closedByServer(within: .seconds(5)))
        #expect(s.server.metricsText().contains(#"chatd_connections_refused_total{reason="pending_total"} 1"#))
        // Closing one frees a place in the total.
        await held.removeFirst().close()
        var served = false
        for _ in 0..<50 where !served {
            let c = try await RawConnection.open(port: s.port)
            try await c.send(Self.get("/healthz"))
            served = try await c.response()?.status == 200
            if served { held.append(c) } else { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(served)
        for c in held { await c.close() }
        try await s.stop()
    }

    /// Issue 13, item 11 (here for the limiter): a reload's smaller per-user bucket applies
    /// to a user already chatting, without a fresh burst of the old size.
    @Test func aReloadResizesTheBucketsOfConnectedClients() async throws {
        var config = Config()
        let s = try await TestServer.start {
            $0.limits.rateMessages = 1000
            $0.limits.userRateMessages = 100
            $0.limits.ipRateMessages = 1000
            $0.limits.rateWindowSeconds = 600
            config = $0
        }
        let c = try await s.join(name: "steady")
        for i in 0..<2 {
            try await c.sendJSON("before \(i)")
            _ = try await c.nextJSON(type: "message")
        }
        config.limits.userRateMessages = 3
        #expect(await s.server.reload(to: .success(config)).ok)
        for i in 0..<3 {
            try await c.sendJSON("after \(i)")
            _ = try await c.nextJSON(type: "message")
        }
        try await c.sendJSON("one too many")
        #expect(try await c.nextJSON(type: "error")["code"] as? String == "rate_limited")
        await c.close()
        try await s.stop()
    }

    // MARK: Publish API (item 10)

    @Test func wrongPublishKeysCountAgainstTheAddress() async throws {
        let key = "publisher-key-1"
        let hash = SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
        let s = try await Self.start {
            var apiKey = Config.APIKey()
            apiKey.keySHA256 = hash
            $0.api.keys = ["backend": apiKey]
            $0.limits.upgradesPerMinutePerIP = 3
            // The test client is "behind" a proxy so that it can be two addresses.
            $0.server.trustedProxies = ["127.0.0.1"]
        }
        let c = try await WebSocketClient.connect(
            to: WebSocketURL(host: "127.0.0.1", port: s.port, target: "/chat?token=dev-token"),
            origin: "http://localhost:8080")
        func publish(_ presented: String, from address: String) async throws -> RawHTTP.Response {
            let body = #"{"room":"lobby","text":"pushed"}"#
            return try await RawHTTP.exchange(
                host: "127.0.0.1", port: s.port,
                request:
                    "POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(presented)\r\nX-Forwarded-For: \(address)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
        }
        for guess in 1...3 { #expect(try await publish("guess\(guess)", from: "198.51.100.7").head.status == 401) }
        let limited = try await publish("guess4", from: "198.51.100.7")
        #expect(limited.head.status == 429)
        #expect(limited.head.header("retry-after") == "20")
        // Past the budget even the right key waits: a guess that hit would not be told apart.
        #expect(try await publish(key, from: "198.51.100.7").head.status == 429)
        // Another address is not affected.
        #expect(try await publish(key, from: "198.51.100.8").head.status == 200)
        #expect(s.server.metricsText().contains(#"chatd_publish_requests_total{status="429"} 2"#))
        await c.close()
        try await s.stop()
    }

    // MARK: Metrics listener (items 3 and 10)

    @Test func theMetricsListenerClosesStalledAndIdleClients() async throws {
        // 1.5 s leaves room for a loaded CI machine between connecting and the first bytes.
        let s = try await Self.start { $0.limits.handshakeTimeoutSeconds = 1.5 }
        let stalled = try await RawConnection.open(port: s.metricsPort)
        try await stalled.send("GET /metr")
        #expect(await stalled.closedByServer(within: .seconds(5)))
        let idle = try await RawConnection.open(port: s.metricsPort)
        try await idle.send(Self.get("/metrics"))
        let answer = try await idle.response()
        #expect(answer?.status == 200 && answer?.body.contains("chatd_connections") == true)
        #expect(await idle.closedByServer(within: .seconds(5)))
        // Requests that keep coming keep the connection.
        let busy = try await RawConnection.open(port: s.metricsPort)
        for _ in 0..<5 {
            try await busy.send(Self.get("/metrics"))
            #expect(try await busy.response()?.status == 200)
            try await Task.sleep(for: .milliseconds(500))
        }
        await busy.close()
        try await s.stop()
    }

    @Test func pipelinedRequestsAreAnsweredInOrderOnBothListeners() async throws {
        let s = try await Self.start()
        for (port, paths) in [(s.metricsPort, ["/metrics", "/nope", "/metrics"]), (s.port, ["/healthz", "/nope", "/app.js"])] {
            let c = try await RawConnection.open(port: port)
            try await c.send(paths.map { Self.get($0) }.joined())
            var statuses: [Int] = []
            for _ in paths { statuses.append(try await c.response()?.status ?? 0) }
            #expect(statuses == [200, 404, 200])
            await c.close()
        }
        try await s.stop()
    }

    /// A client that pipelines without reading is answered only while its socket takes the
    /// answers, and is closed once idle for the timeout, while others are served.
    @Test func aPipeliningClientThatDoesNotReadIsCutWhileOthersAreServed() async throws {
        let s = try await Self.start { $0.limits.handshakeTimeoutSeconds = 1 }
        for port in [s.port, s.metricsPort] {
            let flood = try await RawConnection.open(port: port, reading: false)
            let request = Self.get(port == s.port ? "/app.js" : "/metrics")
            let batch = String(repeating: request, count: 2000)
            // Written without awaiting: the socket fills, then the writes wait client-side.
            let writer = Task { for _ in 0..<50 { try? await flood.send(batch) } }
            let witness = try await RawConnection.open(port: port)
            try await witness.send(Self.get(port == s.port ? "/healthz" : "/metrics"))
            #expect(try await witness.response()?.status == 200)
            #expect(await flood.closedByServer(within: .seconds(10)))
            writer.cancel()
            await witness.close()
        }
        try await s.stop()
    }

    // MARK: Control socket (item 10)

    @Test func theControlSocketReadsTheFirstLineOnly() async throws {
        let s = try await Self.start()
        let path = try #require(s.bound.control)
        let c = try await RawConnection.open(unixPath: path)
        // A whole request, then a long partial line: the request is answered first.
        try await c.send(#"{"v":1,"command":"status"}"# + "\n" + String(repeating: "x", count: 70_000))
        let first = try #require(try await c.line())
        #expect(first.contains(#""ok":true"#))
        let second = try #require(try await c.line())
        #expect(second.contains("bad_request") && second.contains("longer than 65536"))
        #expect(await c.closedByServer(within: .seconds(5)))
        // Many short lines in one write are each answered.
        let d = try await RawConnection.open(unixPath: path)
        try await d.send(String(repeating: #"{"v":1,"command":"rooms"}"# + "\n", count: 3000))
        for _ in 0..<3000 { #expect(try await d.line()?.contains(#""ok":true"#) == true) }
        await d.close()
        try await s.stop()
    }

    @Test func theControlSocketClosesIdleStalledAndNonReadingClients() async throws {
        let s = try await Self.start()
        let path = try #require(s.bound.control)
        let idle = try await RawConnection.open(unixPath: path)
        let stalled = try await RawConnection.open(unixPath: path)
        try await stalled.send(#"{"v":1,"comm"#)
        let deaf = try await RawConnection.open(unixPath: path, reading: false)
        let writer = Task {
            let batch = String(repeating: #"{"v":1,"command":"status"}"# + "\n", count: 1000)
            for _ in 0..<100 { try? await deaf.send(batch) }
        }
        let started = ContinuousClock.now
        #expect(await idle.closedByServer(within: .seconds(15)))
        #expect(await stalled.closedByServer(within: .seconds(15)))
        #expect(await deaf.closedByServer(within: .seconds(15)))
        #expect(ContinuousClock.now - started >= .seconds(9))
        writer.cancel()
        // Another client is served meanwhile and after.
        let ok = try await RawConnection.open(unixPath: path)
        try await ok.send(#"{"v":1,"command":"status"}"# + "\n")
        #expect(try await ok.line()?.contains(#""ok":true"#) == true)
        await ok.close()
        try await s.stop()
    }
}
