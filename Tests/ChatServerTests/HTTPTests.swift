import ChatClient
import Foundation
import Testing

/// Point 3 of the chat core: routes, statuses, and refusals without an upgrade.
@Suite struct HTTPTests {
    static let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

    func upgrade(_ target: String, origin: String? = "http://localhost:8080", extra: String = "") -> String {
        var r = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\(Self.key)"
        if let origin { r += "Origin: \(origin)\r\n" }
        return r + extra + "\r\n"
    }

    @Test func pageIsServedWithAContentSecurityPolicy() async throws {
        let s = try await TestServer.start()
        let r = try await s.http("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n\r\n")
        #expect(r.head.status == 200)
        #expect(r.head.header("content-type") == "text/html; charset=utf-8")
        let csp = try #require(r.head.header("content-security-policy"))
        #expect(csp.contains("script-src 'self'"))
        #expect(csp.contains("connect-src 'self' ws://127.0.0.1:8080"))
        #expect(r.body.contains("<script type=\"module\" src=\"/app.js\""))
        let js = try await s.http("GET /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(js.head.status == 200 && js.body.contains("from \"/chatd.js\""))
        let library = try await s.http("GET /chatd.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(library.head.header("content-type") == "text/javascript; charset=utf-8")
        #expect(library.body.contains("export class ChatClient"))
        try await s.stop()
    }

    @Test func healthzReportsClients() async throws {
        let s = try await TestServer.start()
        let before = try await s.http("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(before.head.status == 200)
        #expect(before.head.header("content-type") == "application/json")
        #expect(before.body == #"{"ok":true,"clients":0}"#)
        let client = try await s.join()
        let after = try await s.http("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(after.body == #"{"ok":true,"clients":1}"#)
        await client.close()
        try await s.stop()
    }

    /// The document chatd serves is docs/openapi.yaml byte for byte (scripts/gen-openapi.sh
    /// makes the copy compiled in; this fails when someone edits one and not the other).
    @Test func servesTheOpenAPIDocumentAsTheRepositoryHasIt() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let expected = try String(contentsOf: repository.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let s = try await TestServer.start()
        let r = try await s.http("GET /api/openapi.yaml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(r.head.status == 200)
        #expect(r.head.header("content-type") == "application/yaml; charset=utf-8")
        #expect(r.body == expected, "run scripts/gen-openapi.sh after editing docs/openapi.yaml")
        let post = try await s.http("POST /api/openapi.yaml HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(post.head.status == 405 && post.head.header("allow") == "GET, HEAD")
        try await s.stop()
    }

    @Test func unknownPathsAndWrongMethods() async throws {
        let s = try await TestServer.start()
        #expect(try await s.http("GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").head.status == 404)
        let post = try await s.http("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(post.head.status == 405)
        #expect(post.head.header("allow") == "GET, HEAD")
        #expect(try await s.http("DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").head.status == 405)
        #expect(try await s.http("POST /chat?token=dev-token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").head.status == 405)
        try await s.stop()
    }

    @Test func plainGetOnChatIs426() async throws {
        let s = try await TestServer.start()
        let r = try await s.http("GET /chat?token=dev-token HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:8080\r\n\r\n")
        #expect(r.head.status == 426)
        #expect(r.head.header("sec-websocket-accept") == nil)
        try await s.stop()
    }

    @Test(arguments: [
        ("/elsewhere?token=dev-token", "http://localhost:8080", 404),
        ("/chat?token=dev-token", "http://evil.example", 403),
        ("/chat?token=wrong", "http://localhost:8080", 401),
        ("/chat", "http://localhost:8080", 401),
    ])
    func refusedUpgradesGetAStatusAndNoUpgrade(target: String, origin: String, status: Int) async throws {
        let s = try await TestServer.start()
        let r = try await s.http(upgrade(target, origin: origin))
        #expect(r.head.status == status)
        #expect(r.head.header("upgrade") == nil)
        #expect(r.head.header("sec-websocket-accept") == nil)
        #expect(r.head.header("connection") == "close")
        // No WebSocket state exists: nothing was counted as a client.
        #expect(s.server.connectionCount == 0)
        try await s.stop()
    }

    @Test func missingOriginIs403() async throws {
        let s = try await TestServer.start()
        #expect(try await s.http(upgrade("/chat?token=dev-token", origin: nil)).head.status == 403)
        try await s.stop()
    }

    @Test func malformedHandshakeIs400() async throws {
        let s = try await TestServer.start()
        let r = try await s.http(
            "GET /chat?token=dev-token HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: http://localhost:8080\r\n\r\n"
        )
        #expect(r.head.status == 400)
        // An empty key, a list of keys, another version: 400. Spaces around the values are
        // not part of them (the accept value is RFC 6455's own example's).
        let head =
            "GET /chat?token=dev-token HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: http://localhost:8080\r\n"
        for bad in [
            "Sec-WebSocket-Key: \r\nSec-WebSocket-Version: 13", "Sec-WebSocket-Key: a, b\r\nSec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8",
        ] {
            #expect(try await s.http(head + bad + "\r\n\r\n").head.status == 400, "\(bad)")
        }
        let raw = try await RawConnection.open(port: s.port)
        try await raw.send(head + "Sec-WebSocket-Key:  dGhlIHNhbXBsZSBub25jZQ== \t\r\nSec-WebSocket-Version: 13 \r\n\r\n")
        let spaced = try await raw.response()
        #expect(spaced?.status == 101)
        #expect(spaced?.head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == true)
        await raw.close()
        try await s.stop()
    }

    @Test func clientSideRejectionsCarryTheStatus() async throws {
        let s = try await TestServer.start()
        await #expect(throws: ClientError.rejected(status: 401, body: "missing or invalid token\n")) {
            _ = try await WebSocketClient.connect(to: s.url("token=nope"), origin: "http://localhost:8080")
        }
        try await s.stop()
    }

    @Test func tokenIsNeverLogged() async throws {
        let s = try await TestServer.start { $0.auth.tokens = ["sekrit-token-123"] }
        _ = try? await s.http(upgrade("/chat?token=sekrit-token-123", origin: "http://evil.example"))
        _ = try? await s.http(upgrade("/chat?token=sekrit-token-456"))
        let c = try await WebSocketClient.connect(to: s.url("token=sekrit-token-123&name=a"), origin: "http://localhost:8080")
        await c.close()
        try await s.stop()
        let logs = s.logs.all
        #expect(!logs.isEmpty)
        #expect(!logs.contains { $0.contains("sekrit") })
    }
}

@Suite struct StartupTests {
    @Test func aControlSocketThatCannotBeCreatedDoesNotStopChat() async throws {
        let s = try await TestServer.start { $0.control.socket = "/proc/chatd-cannot-be-here/control.sock" }
        let c = try await s.join()
        await c.close()
        #expect(s.logs.all.contains { $0.contains("no control socket") })
        try await s.stop()
    }
}
