import Foundation

/// What `[webhooks.NAME]` tells a backend: the events, which hooks get each, the JSON each
/// is posted as, and when a failed delivery is tried again. Pure; the store keeps the
/// outbox and the dispatcher posts.
public enum WebhookEventType: String, Sendable, CaseIterable, Codable {
    case message
    case messageDeleted = "message_deleted"
    case messageEdited = "message_edited"
    case join
    case leave
    case roomOccupied = "room_occupied"
    case roomVacated = "room_vacated"
    case moderation
}

/// One event, as the outbox holds it: its id (the receiver de-duplicates by it), its type,
/// its room ("" for a server-wide moderation action) and the whole JSON body.
public struct WebhookEvent: Sendable, Equatable {
    public var id: String
    public var type: WebhookEventType
    public var room: String
    /// Seconds since 1970.
    public var at: Double
    public var body: String

    public init(id: String, type: WebhookEventType, room: String, at: Double, body: String) {
        self.id = id
        self.type = type
        self.room = room
        self.at = at
        self.body = body
    }

    /// A new event id (a lowercase UUID).
    public static func newID() -> String { RandomID.uuid() }

    /// `{"id","type","at","room",…}` with `fields` written after the common ones.
    static func make(_ type: WebhookEventType, room: String, at: Double, id: String, _ fields: (inout JSONWriter) -> Void) -> Self {
        var json = JSONWriter()
        json.beginObject()
        json.field("id", id)
        json.field("type", type.rawValue)
        // Clamped to the years ISO 8601 writes with four digits: the clock is the only source,
        // but no value of it may trap.
        let seconds = at.isFinite ? min(max(at, 0), JWTClaims.latestExpiry) : 0
        let ms = Int64(exactly: (seconds * 1000).rounded(.down)) ?? 0
        json.field("at", Timestamp.iso8601(millisecondsSinceEpoch: ms))
        json.field("room", room)
        fields(&json)
        json.endObject()
        return WebhookEvent(id: id, type: type, room: room, at: at, body: json.string)
    }

    /// A stored message: `{"…","message":MESSAGE}` as clients receive it.
    public static func message(_ message: ChatMessage, at: Double, id: String = WebhookEvent.newID()) -> Self {
        make(.message, room: message.room, at: at, id: id) { json in
            json.key("message")
            message.write(to: &json)
        }
    }

    /// An edit (`ChatMessage.editOf`): `"edit"` holds the `edited` event's fields.
    public static func edited(_ edit: ChatMessage, at: Double, id: String = WebhookEvent.newID()) -> Self {
        make(.messageEdited, room: edit.room, at: at, id: id) { json in
            json.key("edit")
            json.beginObject()
            edit.writeEditFields(to: &json)
            json.endObject()
        }
    }

    /// A message removed by its author, a moderator or a purge: `"seq"` and the message as it was.
    public static func deleted(_ message: ChatMessage, at: Double, id: String = WebhookEvent.newID()) -> Self {
        make(.messageDeleted, room: message.room, at: at, id: id) { json in
            json.field("seq", message.seq)
            json.key("message")
            message.write(to: &json)
        }
    }

    /// A member came or went (`join`, `leave`): `"user"` (the identity key), `"name"`, and
    /// `"online"`, the room's members on this node afterwards.
    public static func presence(
        _ type: WebhookEventType, room: String, user: String, name: String, online: Int, at: Double,
        id: String = WebhookEvent.newID()
    ) -> Self {
        make(type, room: room, at: at, id: id) { json in
            json.field("user", user)
            json.field("name", name)
            json.field("online", online)
        }
    }

    /// The room's first member came (`room_occupied`) or its last left (`room_vacated`), on
    /// this node.
    public static func occupancy(_ type: WebhookEventType, room: String, at: Double, id: String = WebhookEvent.newID()) -> Self {
        make(type, room: room, at: at, id: id) { _ in }
    }

    /// A moderation action, as the audit log records it.
    public static func moderation(_ entry: AuditEntry, id: String = WebhookEvent.newID()) -> Self {
        make(.moderation, room: room(of: entry), at: entry.at, id: id) { json in
            json.field("action", entry.action)
            json.field("actor", entry.actor)
            json.field("target", entry.target)
            json.field("reason", entry.reason)
        }
    }
}

/// Which hooks get an event: each hook's `events` and `rooms`.
public struct WebhookRoutes: Sendable, Equatable {
    public struct Route: Sendable, Equatable {
        public var name: String
        public var events: Set<WebhookEventType>
        public var rooms: RoomPatterns

        public init(name: String, events: Set<WebhookEventType>, rooms: RoomPatterns) {
            self.name = name
            self.events = events
            self.rooms = rooms
        }
    }

    public var routes: [Route]

    public init(_ routes: [Route] = []) { self.routes = routes.sorted { $0.name < $1.name } }

    public var isEmpty: Bool { routes.isEmpty }

    /// The hooks `type` in `room` goes to. An event of no room (a mute of a user everywhere)
    /// goes to the hooks that take every room.
    public func hooks(for type: WebhookEventType, room: String) -> [String] {
        routes.filter { $0.events.contains(type) && (room.isEmpty ? $0.rooms == .all : $0.rooms.matches(room)) }.map(\.name)
    }

    /// True when some hook takes `type` at all (so that no event is built for none).
    public func wants(_ type: WebhookEventType) -> Bool { routes.contains { $0.events.contains(type) } }
}

/// When a delivery that failed is tried again: exponential backoff with full jitter
/// (a random wait up to the exponential bound), so that many events failing together do not
/// come back together.
public enum WebhookRetry {
    public static let firstSeconds: Double = 1
    public static let longestSeconds: Double = 300

    /// The wait after the `attempts`-th failure (1 for the first), for `random` in 0..<1.
    public static func delay(afterAttempts attempts: Int, random: Double) -> Double {
        let exponent = Double(attempts <= 1 ? 0 : min(attempts - 1, 30))
        let bound = min(longestSeconds, firstSeconds * pow(2, exponent))
        let r = random.isFinite ? min(max(random, 0), 1) : 1
        // Never less than a tenth of the bound: a zero wait would retry a down backend at once.
        return max(bound * r, bound / 10)
    }

    /// True when an event created at `createdAt` is past `maxAge` at `now`: it is kept as failed.
    public static func expired(createdAt: Double, now: Double, maxAgeSeconds: Double) -> Bool {
        !(now - createdAt < maxAgeSeconds)
    }
}

/// `X-Chatd-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`: what is signed.
public enum WebhookSignature {
    public static func signedBytes(timestamp: Int64, body: String) -> [UInt8] {
        Array("\(timestamp).".utf8) + Array(body.utf8)
    }

    public static func header(hmac: some Sequence<UInt8>) -> String {
        "v1="
            + hmac.map { byte in
                let hex = Array("0123456789abcdef".utf8)
                return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]], as: UTF8.self)
            }.joined()
    }
}

/// One event on its way to one hook, as the outbox hands it to the dispatcher.
public struct WebhookDelivery: Sendable, Equatable {
    /// The outbox row (not the event id: one event to two hooks is two rows).
    public var row: Int64
    public var hook: String
    public var eventID: String
    public var type: String
    public var room: String
    public var body: String
    /// When the event happened (seconds since 1970): `max_age_seconds` counts from it.
    public var createdAt: Double
    /// Failed attempts so far.
    public var attempts: Int

    public init(row: Int64, hook: String, eventID: String, type: String, room: String, body: String, createdAt: Double, attempts: Int) {
        self.row = row
        self.hook = hook
        self.eventID = eventID
        self.type = type
        self.room = room
        self.body = body
        self.createdAt = createdAt
        self.attempts = attempts
    }
}

/// What became of one delivery attempt.
public enum WebhookSettlement: Sendable, Equatable {
    /// A 2xx: the row leaves the outbox.
    case delivered
    /// Not delivered: tried again at `at` (seconds since 1970).
    case retry(at: Double, error: String)
    /// Past `max_age_seconds`: kept as failed until `chatctl webhooks retry`.
    case failed(error: String)
}

/// A hook's outbox, as `chatctl webhooks` shows it.
public struct WebhookBacklog: Sendable, Equatable, Codable {
    public var pending: Int
    public var failed: Int
    /// When the oldest pending event happened (seconds since 1970), or nil.
    public var oldestPendingAt: Double?
    public var lastError: String?

    public init(pending: Int = 0, failed: Int = 0, oldestPendingAt: Double? = nil, lastError: String? = nil) {
        self.pending = pending
        self.failed = failed
        self.oldestPendingAt = oldestPendingAt
        self.lastError = lastError
    }
}

extension WebhookEvent {
    /// The room a moderation action concerns: a delete's `ROOM#SEQ by …`; "" otherwise.
    static func room(of entry: AuditEntry) -> String {
        guard entry.action == "delete" || entry.action == "edit", let hash = entry.target.firstIndex(of: "#") else { return "" }
        let room = String(entry.target[..<hash])
        return Sanitize.isValidRoom(room) ? room : ""
    }
}
