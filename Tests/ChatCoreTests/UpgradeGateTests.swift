import Testing
@testable import ChatCore

@Suite struct UpgradeGateTests {
    let gate = UpgradeGate(allowedOrigins: ["http://localhost:8080"], tokens: ["dev-token", "second"], defaultRoom: "lobby")

    func request(_ target: String, method: String = "GET", origin: String? = "http://localhost:8080",
                 auth: String? = nil, ws: Bool = true) -> UpgradeGate.Request {
        .init(method: method, target: target, origin: origin, authorization: auth, wantsWebSocket: ws)
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
        #expect(status(request("/chat?token=wrong")) == 401)
        #expect(status(request("/chat")) == 401)
        #expect(status(request("/chat?token=dev-tokenX")) == 401)
        #expect(status(request("/chat?token=dev-toke")) == 401)
    }

    @Test func acceptsQueryTokenOrBearer() {
        #expect(gate.decide(request("/chat?token=second&name=masa&room=r1"))
            == .accept(.init(name: "masa", room: "r1", echo: false, credential: "second")))
        #expect(gate.decide(request("/chat?name=a%20b", auth: "Bearer dev-token"))
            == .accept(.init(name: "a b", room: "lobby", echo: false, credential: "dev-token")))
        #expect(status(request("/chat", auth: "Basic dev-token")) == 401)
    }

    @Test func decodesLikeURLSearchParams() {
        #expect(gate.decide(request("/chat?token=dev-token&name=x+y&room=%3Cb%3E"))
            == .accept(.init(name: "x y", room: "lobby", echo: false, credential: "dev-token")))
    }

    @Test func revocationFollowsTheTokenList() {
        #expect(gate.stillValid("second"))
        var reloaded = gate
        reloaded.tokens = ["dev-token"]
        #expect(!reloaded.stillValid("second"))
        #expect(reloaded.stillValid("dev-token"))
    }

    @Test func constantTimeCompare() {
        #expect(ConstantTime.equals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ConstantTime.equals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ConstantTime.equals(Array("".utf8), Array("a".utf8)))
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
