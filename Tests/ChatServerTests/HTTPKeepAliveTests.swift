import ChatClient
import ChatConfig
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Issue 13, item 1: an upgrade on any request of a kept-alive connection (nginx's upstream
/// pool sends the page's /chat on a connection that already carried /, /app.js, /style.css),
/// and the idle timer between requests.
@Suite struct HTTPKeepAliveTests {
    static let origin = "http://localhost:8080"

    func get(_ path: String) -> String { "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" }

    func upgrade(_ query: String = "token=dev-token&name=kept&room=lobby") -> String {
        "GET /chat?\(query) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: \(Self.origin)\r\n\r\n"
    }

    /// Sends a message and waits for it to come back: the session works end to end.
    func chats(_ client: WebSocketClient, _ text: String) async throws -> Bool {
        try await client.sendJSON(text)
        let message = try await client.nextJSON(type: "message")
        return (message["message"] as? [String: Any])?["text"] as? String == text
    }

    @Test func healthzThenAnUpgradeOnTheSameSocket() async throws {
        let s = try await TestServer.start()
        let c = try await WebSocketClient.connect(
            to: s.url("token=dev-token&name=a"), origin: Self.origin,
            before: [get("/healthz")])
        #expect(c.statusesBefore == [200])
        _ = try await c.nextJSON(type: "presence")
        #expect(try await chats(c, "after healthz"))
        await c.close()
        try await s.stop()
    }

    @Test(arguments: [false, true])
    func thePageThenAnUpgradeAsABrowserThroughAProxy(pipelined: Bool) async throws {
        let s = try await TestServer.start()
        let page = [get("/"), get("/app.js"), get("/style.css"), get("/favicon.svg"), get("/nope")]
        let c = try await WebSocketClient.connect(
            to: s.url("token=dev-token&name=b"), origin: Self.origin,
            before: page, pipelined: pipelined)
        #expect(c.statusesBefore == [200, 200, 200, 200, 404])
        _ = try await c.nextJSON(type: "presence")
        #expect(try await chats(c, "after the page"))
        await c.close()
        try await s.stop()
    }

    @Test(arguments: [0, 1, 3])
    func framesRightBehindTheUpgradeAreKept(requestsBefore: Int) async throws {
        let s = try await TestServer.start()
        let frame = WebSocketClient.frameBytes(opcode: .text, Array(#"{"type":"message","text":"right behind"}"#.utf8))
        let c = try await WebSocketClient.connect(
            to: s.url("token=dev-token&name=c"), origin: Self.origin,
            before: Array(repeating: get("/healthz"), count: requestsBefore),
            pipelined: true, trailing: frame + frame)
        let first = try await c.nextJSON(type: "message")
        let second = try await c.nextJSON(type: "message")
        #expect((first["message"] as? [String: Any])?["text"] as? String == "right behind")
        #expect((second["message"] as? [String: Any])?["text"] as? String == "right behind")
        await c.close()
        try await s.stop()
    }

    @Test func eachRequestIsDecidedOnItsOwn() async throws {
        let s = try await TestServer.start()
        // A refused upgrade closes its connection; the next connection is not affected.
        let c = try await RawConnection.open(port: s.port)
        try await c.send(get("/healthz") + upgrade("token=wrong"))
        #expect(try await c.response()?.status == 200)
        #expect(try await c.response()?.status == 401)
        #expect(await c.closedByServer(within: .seconds(5)))
        // An accepted one after a refused-looking request: a 426 for a plain GET on /chat is
        // sent with a close, so on a fresh connection a plain request, then the upgrade.
        let d = try await RawConnection.open(port: s.port)
        try await d.send(get("/app.js"))
        #expect(try await d.response()?.status == 200)
        try await d.send(upgrade())
        let head = try #require(try await d.switchingProtocols())
        #expect(head.hasPrefix("HTTP/1.1 101"))
        #expect(head.lowercased().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="))
        #expect(try await d.frame()?.text.contains("\"type\":\"system\"") == true)
        await d.close()
        try await s.stop()
    }

    @Test func aRequestArrivingInPiecesIsAnswered() async throws {
        let s = try await TestServer.start()
        let c = try await RawConnection.open(port: s.port)
        // The head in two writes, then the body later: each is read while the request is incomplete.
        try await c.send("POST /healthz HTTP/1.1\r\nHost: x\r\n")
        try await Task.sleep(for: .milliseconds(100))
        try await c.send("Content-Length: 10\r\n\r\n01234")
        try await Task.sleep(for: .milliseconds(100))
        try await c.send("56789" + get("/healthz"))
        #expect(try await c.response()?.status == 405)
        #expect(try await c.response()?.status == 200)
        await c.close()
        try await s.stop()
    }

    @Test func aKeptAliveConnectionIsNotCutWhileRequestsKeepComing() async throws {
        // Timeouts leave room for a loaded CI machine running every suite at once.
        let s = try await TestServer.start { $0.limits.handshakeTimeoutSeconds = 1.5 }
        let c = try await RawConnection.open(port: s.port)
        // Seven requests 0.4 s apart: 2.8 s in all, well past the timeout, never idle for it.
        for _ in 0..<7 {
            try await c.send(get("/healthz"))
            #expect(try await c.response()?.status == 200)
            try await Task.sleep(for: .milliseconds(400))
        }
        try await c.send(upgrade())
        let head = try #require(try await c.switchingProtocols())
        #expect(head.hasPrefix("HTTP/1.1 101"))
        // Upgraded: no idle timer any more (the heartbeat's business).
        #expect(await c.closedByServer(within: .seconds(2)) == false)
        await c.close()
        try await s.stop()
    }

    /// As nginx's keepalive_requests: the 1000th answer says `Connection: close` and the
    /// connection ends, so a client pipelining without end is cut off whatever its buffers.
    @Test func aConnectionEndsAfterAThousandAnswers() async throws {
        let s = try await TestServer.start()
        let c = try await RawConnection.open(port: s.port)
        try await c.send(String(repeating: get("/healthz"), count: 1005))
        for n in 1...1000 {
            let answer = try #require(try await c.response(), "answer \(n)")
            #expect(answer.status == 200)
            if n == 999 { #expect(answer.head.lowercased().contains("connection: keep-alive")) }
            if n == 1000 { #expect(answer.head.lowercased().contains("connection: close")) }
        }
        #expect(await c.closedByServer(within: .seconds(5)))
        // A new connection is served as ever.
        let d = try await RawConnection.open(port: s.port)
        try await d.send(get("/healthz"))
        #expect(try await d.response()?.status == 200)
        await d.close()
        try await s.stop()
    }

    @Test func anIdleKeptAliveConnectionIsClosedAfterTheTimeout() async throws {
        let s = try await TestServer.start { $0.limits.handshakeTimeoutSeconds = 1.5 }
        let c = try await RawConnection.open(port: s.port)
        // From before the request: the server's idle time starts after it answered, so this
        // is a lower bound however late this process sees the answer on a loaded machine.
        let asked = ContinuousClock.now
        try await c.send(get("/healthz"))
        #expect(try await c.response()?.status == 200)
        #expect(await c.closedByServer(within: .seconds(8)))
        let idle = ContinuousClock.now - asked
        #expect(idle >= .milliseconds(1200) && idle < .seconds(6))
        // Stalled mid-request after a first answer: closed too.
        let d = try await RawConnection.open(port: s.port)
        try await d.send(get("/healthz"))
        #expect(try await d.response()?.status == 200)
        // On a loaded machine the timeout may already have closed it before this lands.
        try? await d.send("GET /chat?tok")
        #expect(await d.closedByServer(within: .seconds(8)))
        try await s.stop()
    }
}
