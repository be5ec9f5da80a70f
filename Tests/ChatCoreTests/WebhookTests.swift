import Foundation
import Testing

@testable import ChatCore

/// Issue 16, item 1: which hook gets which event, what it is posted as, when a failure is
/// tried again, and what is signed.
@Suite struct WebhookTests {
    @Test func routesFollowEachHooksEventsAndRooms() {
        let routes = WebhookRoutes([
            .init(name: "b-team", events: [.message, .join], rooms: RoomPatterns(["team-*"])!),
            .init(name: "a-all", events: [.message, .moderation], rooms: .all),
        ])
        #expect(routes.hooks(for: .message, room: "team-x") == ["a-all", "b-team"])
        #expect(routes.hooks(for: .message, room: "lobby") == ["a-all"])
        #expect(routes.hooks(for: .join, room: "lobby").isEmpty)
        // An event of no room goes only to hooks that take every room.
        #expect(routes.hooks(for: .moderation, room: "") == ["a-all"])
        #expect(routes.wants(.join) && !routes.wants(.leave))
    }

    @Test func eventsCarryIdTypeAtRoomAndTheirFields() throws {
        let message = ChatMessage(id: "m1", seq: 7, room: "lobby", from: "ann", text: "a \"quote\"", sentAt: "2026-12-04T00:00:00.000Z")
        let event = WebhookEvent.message(message, at: 1_764_806_400.25, id: "e1")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(event.body.utf8)) as? [String: Any])
        #expect(body["id"] as? String == "e1" && body["type"] as? String == "message" && body["room"] as? String == "lobby")
        #expect(body["at"] as? String == "2025-12-04T00:00:00.250Z")
        let inner = try #require(body["message"] as? [String: Any])
        #expect(inner["seq"] as? Int == 7 && inner["text"] as? String == "a \"quote\"" && inner["author"] == nil)
        let join = WebhookEvent.presence(.join, room: "lobby", user: "jwt:idp:u", name: "ann", online: 3, at: 0, id: "e2")
        #expect(
            join.body
                == #"{"id":"e2","type":"join","at":"1970-01-01T00:00:00.000Z","room":"lobby","user":"jwt:idp:u","name":"ann","online":3}"#)
        let entry = AuditEntry(at: 0, actor: "op", action: "delete", target: "lobby#7 by ann", reason: "spam")
        #expect(WebhookEvent.moderation(entry).room == "lobby")
        #expect(WebhookEvent.moderation(AuditEntry(at: 0, actor: "op", action: "mute", target: "jwt:x", reason: "")).room == "")
        // Whatever the clock says, the time is written, never a trap.
        for at in [Double.nan, .infinity, -.infinity, 1e300, -1e300] {
            _ = WebhookEvent.occupancy(.roomOccupied, room: "r", at: at)
        }
    }

    @Test func retriesBackOffExponentiallyWithJitterUpToFiveMinutes() {
        #expect(WebhookRetry.delay(afterAttempts: 1, random: 0.999) <= 1)
        #expect(WebhookRetry.delay(afterAttempts: 4, random: 0.999) <= 8 && WebhookRetry.delay(afterAttempts: 4, random: 0.999) > 7.9)
        #expect(WebhookRetry.delay(afterAttempts: 4, random: 0) == 0.8)
        for attempts in [30, 1000, Int.max, Int.min, 0] {
            for random in [0, 0.5, 1, .nan, .infinity, -1] as [Double] {
                let delay = WebhookRetry.delay(afterAttempts: attempts, random: random)
                #expect(delay >= 0.1 && delay <= WebhookRetry.longestSeconds, "\(attempts) \(random): \(delay)")
            }
        }
        #expect(!WebhookRetry.expired(createdAt: 100, now: 150, maxAgeSeconds: 60))
        #expect(WebhookRetry.expired(createdAt: 100, now: 160, maxAgeSeconds: 60))
        #expect(WebhookRetry.expired(createdAt: .nan, now: 160, maxAgeSeconds: 60))
    }

    @Test func theSignatureCoversTimestampDotBody() {
        #expect(WebhookSignature.signedBytes(timestamp: 17, body: "{}") == Array("17.{}".utf8))
        #expect(WebhookSignature.header(hmac: [0x00, 0xAB, 0xFF]) == "v1=00abff")
    }
}
