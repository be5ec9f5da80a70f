import Foundation
import Testing

@testable import ChatCore

/// Issue 16, items 2 and 3: what the backend is sent, and what each answer it may give
/// means. A backend decides; a broken one never admits or stores by accident.
@Suite struct BackendProxyTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func connect(_ status: Int?, _ body: String, now: Double = 1_000) -> BackendProxy.ConnectVerdict {
        BackendProxy.connectVerdict(status: status, body: bytes(body), now: now)
    }

    @Test func theConnectQuestionCarriesAddressOriginRoomNameAndTheForwardedHeaders() throws {
        let request = BackendProxy.ConnectRequest(
            address: "192.0.2.7", origin: "https://chat.example", room: "lobby", name: "ann",
            headers: [("cookie", "sid=\"a\\b\"; theme=dark"), ("authorization", "Session x")])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        #expect(object["address"] as? String == "192.0.2.7")
        #expect(object["origin"] as? String == "https://chat.example")
        #expect(object["room"] as? String == "lobby")
        #expect(object["name"] as? String == "ann")
        let headers = try #require(object["headers"] as? [String: String])
        #expect(headers == ["cookie": "sid=\"a\\b\"; theme=dark", "authorization": "Session x"])
    }

    @Test func twoHundredAdmitsAsTheBackendsIdentity() throws {
        let verdict = Self.connect(200, #"{"user":"u-42","name":"Ann","role":"moderator","rooms":["team-*"],"expires_at":5000}"#)
        guard case let .admit(identity) = verdict else {
            Issue.record("\(verdict)")
            return
        }
        #expect(identity.userKey == "proxy:u-42")
        #expect(identity.name == "Ann" && identity.role == .moderator && !identity.guestNames)
        #expect(identity.mayUse(room: "team-a") && !identity.mayUse(room: "lobby"))
        #expect(identity.expiresAt == 5000)
    }

    @Test func theDefaultsAreTheUserAsNameAUserEveryRoomAndNoExpiry() throws {
        guard case let .admit(identity) = Self.connect(200, #"{"user":"bob","extra":[1,2]}"#) else {
            Issue.record("not admitted")
            return
        }
        #expect(identity.name == "bob" && identity.role == .user && identity.mayUse(room: "any") && identity.expiresAt == nil)
        // A user key of any bytes stays one printable key (it is what operators kick by).
        guard case let .admit(odd) = Self.connect(200, #"{"user":"a:b c%\u0301","name":"x"}"#) else {
            Issue.record("not admitted")
            return
        }
        #expect(odd.userKey == "proxy:a:b%20c%25%CC%81")
    }

    @Test func refusalsKeepTheBackendsStatusAndACleanReason() {
        #expect(Self.connect(401, #"{"reason":"log in first"}"#) == .refuse(status: 401, reason: "log in first"))
        #expect(Self.connect(403, #"{"reason":"banned\r\nX-Evil: 1"}"#) == .refuse(status: 403, reason: "bannedX-Evil: 1"))
        #expect(Self.connect(403, "not json") == .refuse(status: 403, reason: "refused by the application"))
        #expect(Self.connect(401, #"{"reason":"\u200b"}"#) == .refuse(status: 401, reason: "refused by the application"))
        let long = String(repeating: "é", count: 5000)
        guard case let .refuse(_, reason) = Self.connect(403, #"{"reason":"\#(long)"}"#) else {
            Issue.record("not refused")
            return
        }
        #expect(reason.count == BackendProxy.maxReasonChars)
    }

    @Test func anythingElseIsUnavailableNeverAnAdmission() {
        let broken: [(Int?, String)] = [
            (nil, ""), (500, #"{"user":"u"}"#), (302, ""), (404, ""), (200, ""), (200, "[]"), (200, "null"),
            (200, #"{"user":""}"#), (200, #"{"user":5}"#), (200, #"{"name":"x"}"#),
            (200, #"{"user":"\#(String(repeating: "u", count: 257))"}"#),
            (200, #"{"user":"not a valid name because it is far too long"}"#),
            (200, #"{"user":"u","name":"<b>"}"#), (200, #"{"user":"u","role":"root"}"#),
            (200, #"{"user":"u","rooms":"lobby"}"#), (200, #"{"user":"u","rooms":["bad room"]}"#),
            (200, #"{"user":"u","expires_at":"soon"}"#), (200, #"{"user":"u","expires_at":true}"#),
            (200, #"{"user":"u","pad":"\#(String(repeating: "x", count: BackendProxy.maxAnswerBytes))"}"#),
        ]
        for (status, body) in broken {
            guard case .unavailable = Self.connect(status, body) else {
                Issue.record("\(status.map(String.init) ?? "nil") \(body.prefix(80)) was not unavailable")
                continue
            }
        }
    }

    @Test func anExpiryOfZeroOrOneIsANumberNotABoolean() {
        // Foundation on Linux says `0 is Bool`: found by review, these gave 503.
        #expect(Self.connect(200, #"{"user":"u","expires_at":0}"#) == .refuse(status: 401, reason: "session expired"))
        #expect(Self.connect(200, #"{"user":"u","expires_at":1}"#) == .refuse(status: 401, reason: "session expired"))
        guard case .unavailable = Self.connect(200, #"{"user":"u","expires_at":false}"#) else {
            Issue.record("false taken")
            return
        }
    }

    @Test func aReasonIsOneLineOfVisibleText() {
        #expect(Self.connect(403, #"{"reason":"a\u2028b\u2029c\u200bd\u202ee\u0000f"}"#) == .refuse(status: 403, reason: "abcdef"))
    }

    @Test func anExpiryInThePastRefusesAndOneFarOffIsClamped() throws {
        #expect(Self.connect(200, #"{"user":"u","expires_at":999}"#) == .refuse(status: 401, reason: "session expired"))
        guard case let .admit(identity) = Self.connect(200, #"{"user":"u","expires_at":1e300}"#) else {
            Issue.record("not admitted")
            return
        }
        #expect(identity.expiresAt == JWTClaims.clampedExpiry(1e300, now: 1_000))
    }

    static let message = BackendProxy.PublishRequest(room: "lobby", user: "proxy:u", name: "ann", text: "hello", address: "192.0.2.7")

    static func publish(_ status: Int?, _ body: String, maxChars: Int = 500) -> BackendProxy.PublishVerdict {
        BackendProxy.publishVerdict(status: status, body: bytes(body), request: message, maxChars: maxChars)
    }

    @Test func thePublishQuestionCarriesRoomUserNameTextAndAddress() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(Self.message.body)) as? [String: String])
        #expect(object == ["room": "lobby", "user": "proxy:u", "name": "ann", "text": "hello", "address": "192.0.2.7"])
    }

    @Test func twoHundredKeepsOrRewritesTheText() {
        #expect(Self.publish(200, "") == .accept(text: "hello"))
        #expect(Self.publish(204, "") == .accept(text: "hello"))
        #expect(Self.publish(200, "{}") == .accept(text: "hello"))
        #expect(Self.publish(200, #"{"text":null}"#) == .accept(text: "hello"))
        #expect(Self.publish(200, #"{"text":"  h***o \t "}"#) == .accept(text: "h***o"))
    }

    @Test func aRewriteIsBoundLikeAClientsText() {
        #expect(Self.publish(200, #"{"text":"\u200b  "}"#) == .unavailable(detail: "the rewritten text is empty"))
        guard case .unavailable = Self.publish(200, #"{"text":"123456"}"#, maxChars: 5) else {
            Issue.record("too long kept")
            return
        }
        guard case .unavailable = Self.publish(200, #"{"text":7}"#) else {
            Issue.record("number kept")
            return
        }
        guard case .unavailable = Self.publish(200, "{oops") else {
            Issue.record("bad JSON kept")
            return
        }
    }

    @Test func fourOhThreeRejectsWithTheReasonAndTheRestIsUnavailable() {
        #expect(Self.publish(403, #"{"reason":"no links"}"#) == .reject(reason: "no links"))
        #expect(Self.publish(403, "") == .reject(reason: "rejected by the application"))
        for status in [nil, 400, 401, 404, 500, 503] as [Int?] {
            guard case .unavailable = Self.publish(status, #"{"reason":"x"}"#) else {
                Issue.record("\(String(describing: status))")
                continue
            }
        }
    }

    @Test func onlyHeaderNamesThatAreTheClientsAreForwarded() {
        #expect(BackendProxy.isForwardable("cookie") && BackendProxy.isForwardable("X-Session"))
        for name in ["", "Host", "content-length", "Connection", "upgrade", "transfer-encoding", "a b", "a:b", "é"] {
            #expect(!BackendProxy.isForwardable(name), "\(name)")
        }
    }
}
