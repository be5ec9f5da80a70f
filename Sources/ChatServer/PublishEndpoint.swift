import ChatCore
import Foundation
import NIOCore
import NIOHTTP1

/// `POST /api/publish`: a key (`Authorization: Bearer KEY`, one of `[api.keys]`) sends an
/// event to a room as the server. Answers in JSON: 200 with the event's `seq` and `id`, or
/// an error status with `{"error": reason}`. A wrong key costs its address a token of the
/// bucket that counts upgrade attempts (`limits.upgrades_per_minute_per_ip`); with none
/// left, every request from there is 429 before its key is looked at, so keys cannot be
/// guessed faster than tokens.
enum PublishEndpoint {
    static let path = "/api/publish"

    struct Answer: Sendable {
        var status: HTTPResponseStatus
        var json: [UInt8]
        var headers: [(String, String)] = []

        /// `{"error": reason}`; `code`: stable, for refusals a client must tell apart from
        /// the others of the status.
        static func failure(_ status: HTTPResponseStatus, _ reason: String, code: String? = nil) -> Answer {
            var w = JSONWriter()
            w.beginObject()
            w.field("error", reason)
            if let code { w.field("code", code) }
            w.endObject()
            return Answer(status: status, json: w.bytes)
        }
    }

    /// Answers through `reply`, at once for a refused request, else once the event is in
    /// history (on the store queue: hop to the channel's loop).
    static func answer(
        _ head: HTTPRequestHead, body: ByteBuffer?, address: String, server: ServerCore,
        reply: @escaping @Sendable (Answer) -> Void
    ) {
        switch check(head, body: body, address: address, server: server) {
        case let .failure(answer):
            reply(answer)
        case let .success((request, key)):
            let id = RandomID.uuid()
            server.publish(request, from: key, id: id) { result in
                switch result {
                case let .success(message):
                    // A repeated Idempotency-Key: the first answer again, the same bytes.
                    let replayed = message.id != id
                    var w = JSONWriter()
                    w.beginObject()
                    w.field("ok", true)
                    w.field("room", message.room)
                    w.field("seq", message.seq)
                    w.field("id", message.id)
                    w.endObject()
                    reply(Answer(status: .ok, json: w.bytes, headers: replayed ? [("Idempotent-Replayed", "true")] : []))
                case let .failure(refusal):
                    reply(failure(refusal))
                }
            }
        }
    }

    private enum Checked {
        case success((PublishRequest, String))
        case failure(Answer)
    }

    /// The request and the key's name, or the answer that refuses it.
    private static func check(_ head: HTTPRequestHead, body: ByteBuffer?, address: String, server: ServerCore) -> Checked {
        let settings = server.settings.current
        if settings.apiKeys.isEmpty { return .failure(failure(.notFound, "the publish API is off: configure [api.keys.NAME]")) }
        guard head.method == .POST else {
            var answer = failure(.methodNotAllowed, "use POST")
            answer.headers.append(("Allow", "POST"))
            return .failure(answer)
        }
        let now = NIODeadline.now().uptimeNanoseconds
        guard server.limits.mayAttempt(address: address, settings: settings, now: now) else {
            var answer = failure(.tooManyRequests, "too many wrong API keys from your address: retry later")
            answer.headers.append(("Retry-After", String(retryAfterSeconds(settings))))
            return .failure(answer)
        }
        guard let presented = UpgradeGate.bearerToken(head.headers.first(name: "authorization")),
            let key = settings.apiKeys.key(for: presented)
        else {
            server.limits.attemptFailed(address: address, settings: settings, now: now)
            var answer = failure(.unauthorized, "missing or invalid API key (Authorization: Bearer KEY)")
            answer.headers.append(("WWW-Authenticate", "Bearer"))
            return .failure(answer)
        }
        let publisher = ServerCore.publisher(key.name)
        if server.moderation.isBanned(userKey: publisher, authorKey: publisher) {
            return .failure(failure(.forbidden, "the key's publisher \(publisher) is banned", code: "banned"))
        }
        var request: PublishRequest
        switch PublishRequest.decode(body?.readableBytesView ?? ByteBuffer().readableBytesView, maxChars: settings.maxMessageChars) {
        case let .success(decoded): request = decoded
        case let .failure(refusal): return .failure(failure(refusal))
        }
        // HTTP ignores the spaces and tabs around a value (RFC 9110 5.5); NIO keeps the
        // trailing ones, which made "k " and "k" two keys (found by review).
        let keys = head.headers["idempotency-key"].map(WebSocketUpgrader.trimmed)
        if !keys.isEmpty {
            guard keys.count == 1, MessageNonce.isValid(keys[0], maxLength: MessageNonce.maxKeyLength) else {
                return .failure(failure(.badRequest, "Idempotency-Key must be 1-\(MessageNonce.maxKeyLength) printable ASCII characters"))
            }
            request.idempotencyKey = keys[0]
        }
        guard key.rooms.matches(request.room) else { return .failure(failure(.forbidden("this key may not publish to \(request.room)"))) }
        return .success((request, key.name))
    }

    /// When the attempt bucket has a token again: it refills `upgrades_per_minute_per_ip`
    /// tokens a minute.
    static func retryAfterSeconds(_ settings: Settings) -> Int {
        max(1, 60 / max(settings.upgradesPerMinutePerIP, 1))
    }

    static func tooLarge(limit: Int) -> Answer {
        failure(.payloadTooLarge, "the body is larger than api.max_body_bytes (\(limit))")
    }

    private static func failure(_ refusal: PublishRefusal) -> Answer {
        failure(HTTPResponseStatus(statusCode: refusal.status), refusal.reason)
    }

    private static func failure(_ status: HTTPResponseStatus, _ reason: String, code: String? = nil) -> Answer {
        Answer.failure(status, reason, code: code)
    }
}
