import ChatClient
import ChatConfig
import Foundation
import JWTKit
import Testing

/// JWT credentials end to end: claims become the identity, expiry ends the session with
/// 1008, and a reload with another key revokes sessions verified with the old one.
@Suite struct JWTSessionTests {
    struct Claims: JWTPayload {
        var exp: ExpirationClaim
        var sub: SubjectClaim
        var name: String?
        var rooms: [String]?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static let secret = "jwt-session-test-secret-0123456789abcdef"

    static func token(expiresIn seconds: Double, name: String = "jay", secret: String = secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(
            Claims(exp: .init(value: Date().addingTimeInterval(seconds)), sub: .init(value: "u-\(name)"), name: name))
    }

    static func jwtConfig(secret: String = secret) -> Config.JWT {
        var jwt = Config.JWT()
        jwt.algorithm = "HS256"
        jwt.keyFile = "test"
        jwt.key = Array(secret.utf8)
        jwt.leewaySeconds = 0
        return jwt
    }

    @Test func expiryMidSessionClosesWith1008() async throws {
        let s = try await TestServer.start {
            $0.auth.tokens = []
            $0.auth.jwt = Self.jwtConfig()
        }
        let token = try await Self.token(expiresIn: 2)
        let c = try await WebSocketClient.connect(
            to: s.url("name=ignored"), origin: "http://localhost:8080",
            headers: [("Authorization", "Bearer \(token)")])
        #expect(try await c.nextJSON(type: "system")["message"] as? String == "connected as jay")
        let closed: (UInt16?, String) = try await c.next(timeout: .seconds(6)) { event in
            if case let .close(code, reason) = event { return (code, reason) }
            return nil
        }
        #expect(closed.0 == 1008 && closed.1 == "credential expired")
        try await s.stop()
    }

    @Test func expiredAndForgedTokensAreRefusedAtTheUpgrade() async throws {
        let s = try await TestServer.start {
            $0.auth.tokens = []
            $0.auth.jwt = Self.jwtConfig()
        }
        let expired = try await Self.token(expiresIn: -10)
        await #expect(throws: ClientError.rejected(status: 401, body: "token expired\n")) {
            _ = try await WebSocketClient.connect(to: s.url("token=\(expired)"), origin: "http://localhost:8080")
        }
        let forged = try await Self.token(expiresIn: 60, secret: "another-secret-of-enough-length-0123456789")
        await #expect(throws: ClientError.rejected(status: 401, body: "invalid token signature\n")) {
            _ = try await WebSocketClient.connect(to: s.url("token=\(forged)"), origin: "http://localhost:8080")
        }
        #expect(!s.logs.all.joined().contains(forged))
        try await s.stop()
    }

    @Test func reloadWithANewKeyRevokesSessions() async throws {
        let s = try await TestServer.start { $0.auth.jwt = Self.jwtConfig() }
        let c = try await WebSocketClient.connect(
            to: s.url("token=\(try await Self.token(expiresIn: 600))"), origin: "http://localhost:8080")
        _ = try await c.nextJSON(type: "presence")
        let plain = try await s.join(name: "plain")
        var rotated = s.config
        rotated.auth.jwt = Self.jwtConfig(secret: "rotated-secret-rotated-secret-0123456789")
        #expect(await s.server.reload(to: .success(rotated)).ok)
        #expect(try await c.nextClose() == 1008)
        // Sessions of other credentials are untouched.
        try await plain.sendJSON("still here")
        #expect((try await plain.nextJSON(type: "message")["message"] as? [String: Any])?["text"] as? String == "still here")
        await plain.close()
        try await s.stop()
    }
}
