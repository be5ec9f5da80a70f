import ChatClient
import ChatConfig
import Crypto
import Foundation
import JWTKit
import Testing

/// Issue 18, item 3: the admin console's JSON API against a real chatd.
@Suite struct AdminAPITests {
    static func sha256(_ s: String) -> String { SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined() }

    static func start() async throws -> TestServer {
        var root = Config.Credential()
        root.tokenSHA256 = sha256("root-secret")
        root.role = .admin
        var mod = Config.Credential()
        mod.tokenSHA256 = sha256("mod-secret")
        mod.role = .moderator
        return try await TestServer.start {
            $0.auth.credentials = ["root": root, "mod": mod]
        }
    }

    func get(_ s: TestServer, _ path: String, token: String?) async throws -> RawHTTP.Response {
        let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        return try await s.http("GET \(path) HTTP/1.1\r\nHost: x\r\n\(auth)Connection: close\r\n\r\n")
    }

    func post(
        _ s: TestServer, _ body: String, token: String = "root-secret", type: String? = "application/json", origin: String? = nil
    ) async throws -> RawHTTP.Response {
        var head = "POST /api/admin/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n"
        if let type { head += "Content-Type: \(type)\r\n" }
        if let origin { head += "Origin: \(origin)\r\n" }
        return try await s.http(head + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
    }

    func json(_ r: RawHTTP.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
    }

    @Test func aTokenIsNeededAndItsRoleMustBeAdmin() async throws {
        let s = try await Self.start()
        let none = try await get(s, "/api/admin/status", token: nil)
        #expect(none.head.status == 401)
        #expect(none.head.header("www-authenticate") == "Bearer")
        #expect(none.head.header("cache-control") == "no-store")
        #expect(none.head.header("access-control-allow-origin") == nil)
        let wrong = try await get(s, "/api/admin/status", token: "not-a-token")
        #expect(wrong.head.status == 401 && wrong.head.header("www-authenticate") == "Bearer")
        // A token in the query or a cookie is never looked at.
        let query = try await s.http(
            "GET /api/admin/status?token=root-secret HTTP/1.1\r\nHost: x\r\nCookie: token=root-secret\r\nConnection: close\r\n\r\n")
        #expect(query.head.status == 401)
        for token in ["mod-secret", "dev-token"] {
            let notAdmin = try await get(s, "/api/admin/rooms", token: token)
            #expect(notAdmin.head.status == 403)
            #expect(try json(notAdmin)["error"] as? String != nil)
        }
        let ok = try await get(s, "/api/admin/status", token: "root-secret")
        #expect(ok.head.status == 200)
        #expect(ok.head.header("content-type") == "application/json")
        #expect(ok.head.header("cache-control") == "no-store")
        let status = try json(ok)
        #expect(status["configGeneration"] as? Int == 1 && status["version"] is String)
        let unknown = try await get(s, "/api/admin/nothing", token: "root-secret")
        #expect(unknown.head.status == 404)
        let wrongMethod = try await get(s, "/api/admin/actions", token: "root-secret")
        #expect(wrongMethod.head.status == 405 && wrongMethod.head.header("allow") == "POST")
        try await s.stop()
    }

    struct RoleClaims: JWTPayload {
        var exp: ExpirationClaim
        var sub: SubjectClaim
        var name: String
        var role: String
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// A JWT is checked as the upgrade checks it (off the loop, in a task): role admin may,
    /// another role may not, an expired one is a 401.
    @Test func aJWTWithTheAdminRoleMayAndOthersMayNot() async throws {
        let s = try await TestServer.start { $0.auth.jwt = JWTSessionTests.jwtConfig() }
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: JWTSessionTests.secret), digestAlgorithm: .sha256)
        func token(_ role: String, expiresIn seconds: Double = 600) async throws -> String {
            try await keys.sign(
                RoleClaims(exp: .init(value: Date().addingTimeInterval(seconds)), sub: .init(value: "u-\(role)"), name: role, role: role))
        }
        #expect(try await get(s, "/api/admin/rooms", token: try await token("admin")).head.status == 200)
        #expect(try await get(s, "/api/admin/rooms", token: try await token("moderator")).head.status == 403)
        let expired = try await get(s, "/api/admin/rooms", token: try await token("admin", expiresIn: -60))
        let expiredError = try json(expired)["error"] as? String
        #expect(expired.head.status == 401 && expiredError == "token expired")
        // The actor names the JWT's display name.
        let victim = try await s.join(name: "victim")
        let kicked = try await post(s, #"{"command":"kick","user":"guest:victim"}"#, token: try await token("admin"))
        #expect(kicked.head.status == 200)
        #expect(try await victim.nextClose() == 1008)
        let audit = try json(try await get(s, "/api/admin/audit?action=kick", token: try await token("admin")))
        #expect((audit["entries"] as? [[String: Any]])?.first?["actor"] as? String == "admin:admin (console)")
        try await s.stop()
    }

    /// Wrong tokens cost their address attempts, as wrong publish keys do: guessing is slowed
    /// to `limits.upgrades_per_minute_per_ip`. No token at all guesses nothing and costs nothing.
    @Test func wrongTokensRunOutTheAddressAttempts() async throws {
        var root = Config.Credential()
        root.tokenSHA256 = Self.sha256("root-secret")
        root.role = .admin
        let s = try await TestServer.start {
            $0.auth.credentials = ["root": root]
            $0.limits.upgradesPerMinutePerIP = 3
        }
        var statuses: [Int] = []
        for i in 0..<6 { statuses.append(try await get(s, "/api/admin/status", token: "guess-\(i)").head.status) }
        #expect(statuses.prefix(3) == [401, 401, 401] && statuses.suffix(2) == [429, 429])
        let limited = try await get(s, "/api/admin/status", token: "root-secret")
        #expect(limited.head.status == 429 && limited.head.header("retry-after") != nil)
        #expect(try await get(s, "/api/admin/status", token: nil).head.status == 401)
        try await s.stop()
    }

    @Test func postsAreRefusedFromForeignOriginsAndWhenNotJSON() async throws {
        let s = try await Self.start()
        let body = #"{"command":"kick","user":"guest:nobody"}"#
        let foreign = try await post(s, body, origin: "https://evil.example")
        #expect(foreign.head.status == 403)
        #expect(try json(foreign)["error"] as? String == "origin not allowed (auth.allowed_origins)")
        let form = try await post(s, "command=kick&user=x", type: "application/x-www-form-urlencoded")
        #expect(form.head.status == 415)
        let untyped = try await post(s, body, type: nil)
        #expect(untyped.head.status == 415)
        let notAdmin = try await post(s, body, token: "mod-secret")
        #expect(notAdmin.head.status == 403)
        let reload = try await post(s, #"{"command":"reload"}"#)
        #expect(reload.head.status == 400)
        #expect((try json(reload)["error"] as? String)?.contains("not an admin action") == true)
        let typo = try await post(s, #"{"command":"ban","user":"x","duration":60}"#)
        let typoError = try json(typo)["error"] as? String
        #expect(typo.head.status == 400 && typoError?.contains("duration") == true)
        let garbage = try await post(s, "[1,2")
        #expect(garbage.head.status == 400)
        let allowed = try await post(s, body, origin: "http://localhost:8080")
        #expect(allowed.head.status == 404)  // nobody of that name is connected: the handler's answer
        #expect(try json(allowed)["code"] as? String == "not_found")
        try await s.stop()
    }

    @Test func aKickClosesTheSocketWith1008AndIsAuditedAsTheAdmin() async throws {
        let s = try await Self.start()
        let victim = try await s.join(name: "victim", room: "lobby")
        let list = try json(try await get(s, "/api/admin/connections?room=lobby", token: "root-secret"))
        let connections = try #require(list["connections"] as? [[String: Any]])
        #expect(list["truncated"] as? Bool == false && list["total"] as? Int == 1)
        let id = try #require(connections.first?["id"] as? String)
        let rooms = try json(try await get(s, "/api/admin/rooms", token: "root-secret"))
        #expect((rooms["rooms"] as? [[String: Any]])?.contains { $0["name"] as? String == "lobby" && $0["online"] as? Int == 1 } == true)

        let kicked = try await post(s, #"{"command":"kick","connection":"\#(id)","reason":"spam"}"#)
        #expect(kicked.head.status == 200)
        #expect(try json(kicked)["kicked"] as? Int == 1)
        #expect(try await victim.nextClose() == 1008)

        let audit = try json(try await get(s, "/api/admin/audit?action=kick&limit=5", token: "root-secret"))
        let entries = try #require(audit["entries"] as? [[String: Any]])
        #expect(entries.count == 1)
        #expect(entries.first?["actor"] as? String == "admin:root (console)")
        #expect(entries.first?["reason"] as? String == "spam")
        let badLimit = try await get(s, "/api/admin/audit?limit=501", token: "root-secret")
        #expect(badLimit.head.status == 400)
        try await s.stop()
    }

    @Test func aMuteThroughTheAPIHoldsAndSeriesHasSamples() async throws {
        let s = try await Self.start()
        let talker = try await s.join(name: "talker", room: "lobby")
        let muted = try await post(s, #"{"command":"mute","user":"guest:talker","seconds":600,"reason":"loud"}"#)
        #expect(muted.head.status == 200)
        try await talker.sendJSON("hello?")
        #expect(try await talker.nextJSON(type: "error")["code"] as? String == "muted")
        let audit = try json(try await get(s, "/api/admin/audit?actor=admin:root", token: "root-secret"))
        #expect((audit["entries"] as? [[String: Any]])?.map { $0["action"] as? String } == ["mute"])

        // The housekeeper takes a sample when it starts, then every 5 s.
        let series = try json(try await get(s, "/api/admin/series", token: "root-secret"))
        #expect(series["intervalSeconds"] as? Double == 5 && series["capacity"] as? Int == 120)
        let samples = try #require(series["samples"] as? [[String: Any]])
        #expect(!samples.isEmpty)
        #expect(samples.first?["connections"] is Int && samples.first?["at"] is Double)
        let hooks = try await get(s, "/api/admin/webhooks", token: "root-secret")
        let hookList = try json(hooks)["webhooks"] as? [Any]
        #expect(hooks.head.status == 200 && hookList != nil)
        await talker.close()
        try await s.stop()
    }
}
