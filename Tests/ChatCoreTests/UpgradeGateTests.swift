import Testing

@testable import ChatCore

@Suite struct UpgradeGateTests {
    let gate = UpgradeGate(allowedOrigins: ["http://localhost:8080"], defaultRoom: "lobby")

    func request(
        _ target: String, method: String = "GET", origin: String? = "http://localhost:8080",
        auth: String? = nil, protocols: [String] = [], ws: Bool = true
    ) -> UpgradeGate.Request {
        .init(method: method, target: target, origin: origin, authorization: auth, protocols: protocols, wantsWebSocket: ws)
    }

    func status(_ r: UpgradeGate.Request) -> Int? {
        if case let .reject(status, _) = gate.decide(r) { return status }
        return nil
    }

    @Test func refusalsInOrder() {
        #expect(status(request("/other?token=dev-token")) == 404)
        #expect(status(request("/chat?token=dev-token", method: "POST")) == 405)
        #expect(status(request("/chat?token=dev-token", ws: false)) == 426)
        #expect(status(request("/chat?token=dev-token", origin: "http://evil.example")) == 403)
        #expect(status(request("/chat?token=dev-token", origin: nil)) == 403)
        #expect(status(request("/chat?token=dev-token", protocols: ["mqtt"])) == 400)
        #expect(status(request("/chat")) == 401)
        #expect(status(request("/chat?token=")) == 401)
        #expect(status(request("/chat", auth: "Basic dev-token")) == 401)
    }

    @Test func withAConnectProxyARequestWithoutATokenIsTheBackendsToDecide() {
        var proxied = gate
        proxied.connectProxy = true
        for target in ["/chat?room=dev&name=ann", "/chat?token=&room=dev&name=ann"] {
            guard case let .accept(attempt) = proxied.decide(request(target)) else {
                Issue.record("\(target)")
                continue
            }
            #expect(attempt.proxied && attempt.credential.isEmpty && attempt.room == "dev" && attempt.guestName == "ann")
        }
        // A token is still checked by chatd; the Origin check comes first either way.
        guard case let .accept(withToken) = proxied.decide(request("/chat?token=dev-token")) else {
            Issue.record("token")
            return
        }
        #expect(!withToken.proxied && withToken.credential == "dev-token")
        let evil = proxied.decide(request("/chat", origin: "http://evil.example"))
        #expect(evil == UpgradeGate.Decision<UpgradeGate.Attempt>.reject(status: 403, reason: "origin not allowed"))
    }

    @Test func credentialFromQueryBearerOrSubprotocol() {
        #expect(
            gate.decide(request("/chat?token=second&name=masa&room=r1"))
                == .accept(.init(credential: "second", guestName: "masa", room: "r1")))
        #expect(
            gate.decide(request("/chat?name=a%20b", auth: "Bearer dev-token"))
                == .accept(.init(credential: "dev-token", guestName: "a b", room: "lobby")))
        #expect(
            gate.decide(request("/chat?since=12", protocols: ["chatd", "bearer.eyJ.x.y"]))
                == .accept(.init(credential: "eyJ.x.y", guestName: "guest", room: "lobby", since: 12, subprotocol: true)))
    }

    @Test func decodesLikeURLSearchParams() {
        #expect(
            gate.decide(request("/chat?token=dev-token&name=x+y&room=%3Cb%3E"))
                == .accept(.init(credential: "dev-token", guestName: "x y", room: "lobby")))
    }

    @Test func admitTakesTheNameFromTheCredentialUnlessGuestNamesAreAllowed() {
        let attempt = UpgradeGate.Attempt(credential: "t", guestName: "mallory", room: "team-a")
        let alice = Identity(name: "alice", role: .user, rooms: RoomPatterns(["team-*"])!, userKey: "k")
        #expect(UpgradeGate.admit(attempt, as: alice, rule: RoomRule()) == .accept(.init(attempt: attempt, identity: alice)))
        var guest = alice
        guest.guestNames = true
        guard case let .accept(session) = UpgradeGate.admit(attempt, as: guest, rule: RoomRule()) else {
            Issue.record("refused")
            return
        }
        #expect(session.name == "mallory")
    }

    @Test func admitRefusesRoomsTheCredentialOrRuleForbids() {
        let attempt = UpgradeGate.Attempt(credential: "t", guestName: "x", room: "ops")
        let user = Identity(name: "u", role: .user, rooms: RoomPatterns(["team-*"])!, userKey: "k")
        #expect(
            UpgradeGate.admit(attempt, as: user, rule: RoomRule()) == .reject(status: 403, reason: "room not allowed for this credential"))
        let everywhere = Identity(name: "u", role: .user, userKey: "k")
        #expect(
            UpgradeGate.admit(attempt, as: everywhere, rule: RoomRule(join: .moderators))
                != .accept(.init(attempt: attempt, identity: everywhere)))
        let admin = Identity(name: "a", role: .admin, rooms: RoomPatterns([])!, userKey: "k")
        #expect(
            UpgradeGate.admit(attempt, as: admin, rule: RoomRule(join: .moderators)) == .accept(.init(attempt: attempt, identity: admin)))
    }

    @Test func constantTimeCompare() {
        #expect(ConstantTime.equals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ConstantTime.equals(Array("".utf8), Array("a".utf8)))
    }
}

@Suite struct RoomRulesTests {
    @Test func patterns() {
        let p = RoomPatterns(["lobby", "team-*"])!
        #expect(p.matches("lobby") && p.matches("team-a") && p.matches("team-"))
        #expect(!p.matches("lobby2") && !p.matches("ops"))
        #expect(RoomPatterns(["bad room"]) == nil)
        #expect(RoomPatterns(["*x"]) == nil)
        #expect(RoomPatterns(["*"])!.matches("anything"))
    }

    @Test func mostSpecificRuleWins() {
        let rules = RoomRules([
            "*": RoomRule(maxMembers: 100),
            "dash-*": RoomRule(send: .server),
            "dash-ops-*": RoomRule(join: .moderators, send: .server),
            "dash-ops-public": RoomRule(send: .moderators),
        ])
        #expect(rules.rule(for: "lobby") == RoomRule(maxMembers: 100))
        #expect(rules.rule(for: "dash-x") == RoomRule(send: .server))
        #expect(rules.rule(for: "dash-ops-1") == RoomRule(join: .moderators, send: .server))
        #expect(rules.rule(for: "dash-ops-public") == RoomRule(send: .moderators))
        #expect(RoomRules().rule(for: "x") == RoomRule())
    }

    @Test func sendingFollowsRoleAndRule() {
        let user = Identity(name: "u", role: .user, userKey: "u")
        let moderator = Identity(name: "m", role: .moderator, rooms: RoomPatterns(["a"])!, userKey: "m")
        #expect(Authorization.send(user, room: "a", rule: RoomRule()) == nil)
        #expect(Authorization.send(user, room: "a", rule: RoomRule(send: .moderators)) == .readOnly)
        #expect(Authorization.send(moderator, room: "a", rule: RoomRule(send: .moderators)) == nil)
        #expect(Authorization.send(moderator, room: "b", rule: RoomRule()) == .forbidden)
        #expect(Authorization.send(moderator, room: "a", rule: RoomRule(send: .server)) == .readOnly)
    }
}

@Suite struct TrustedProxiesTests {
    let proxies = TrustedProxies(["127.0.0.2", "10.0.0.0/8", "fd00::/8"].compactMap(TrustedProxies.Network.init))

    @Test func untrustedPeersAreTheClient() {
        #expect(proxies.clientAddress(peer: "198.51.100.4", forwardedFor: ["203.0.113.7"]) == "198.51.100.4")
    }

    @Test func trustedPeersNameTheClientFromTheRight() {
        #expect(proxies.clientAddress(peer: "127.0.0.2", forwardedFor: ["198.51.100.4"]) == "198.51.100.4")
        // A client that sends its own header cannot choose its address.
        #expect(proxies.clientAddress(peer: "127.0.0.2", forwardedFor: ["203.0.113.7, 198.51.100.4"]) == "198.51.100.4")
        // Trusted hops are skipped.
        #expect(proxies.clientAddress(peer: "127.0.0.2", forwardedFor: ["198.51.100.4", "10.1.2.3"]) == "198.51.100.4")
        #expect(proxies.clientAddress(peer: "fd00::1", forwardedFor: ["2001:db8::5"]) == "2001:db8::5")
        // No header, or garbage: the peer.
        #expect(proxies.clientAddress(peer: "127.0.0.2", forwardedFor: []) == "127.0.0.2")
        #expect(proxies.clientAddress(peer: "127.0.0.2", forwardedFor: ["not-an-ip"]) == "127.0.0.2")
    }

    @Test func parsing() {
        #expect(IPAddressText.parse("::1") == Array(repeating: 0, count: 15) + [1])
        #expect(IPAddressText.parse("1.2.3.4") == [1, 2, 3, 4])
        #expect(IPAddressText.parse("1.2.3") == nil)
        #expect(IPAddressText.parse("::ffff:1.2.3.4")?.suffix(4) == [1, 2, 3, 4])
        #expect(TrustedProxies.Network("10.0.0.0/33") == nil)
    }
}
