import Foundation

/// The body of `POST /api/publish` (and `chatctl publish`): a room and a text, a JSON
/// payload, or both. Decoded strictly; every refusal is a reason for a 400.
public struct PublishRequest: Sendable, Equatable {
    public var room: String
    public var text: String
    /// The payload as compact JSON text.
    public var data: String?
    /// The request's `Idempotency-Key`: a repeat stores nothing and is answered with the
    /// first event (`MessageNonce`).
    public var idempotencyKey: String?

    public init(room: String, text: String, data: String? = nil, idempotencyKey: String? = nil) {
        self.room = room
        self.text = text
        self.data = data
        self.idempotencyKey = idempotencyKey
    }

    public static func decode(_ body: some Collection<UInt8>, maxChars: Int) -> Result<PublishRequest, PublishRefusal> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body), options: []) as? [String: Any] else {
            return .failure(.badRequest("the body must be a JSON object such as {\"room\":\"dash\",\"text\":\"…\"}"))
        }
        guard let room = object["room"] as? String, Sanitize.isValidRoom(room) else {
            return .failure(.badRequest("room must be a room name (1-32 of a-z A-Z 0-9 _ -)"))
        }
        return make(room: room, text: object["text"], data: object["data"], maxChars: maxChars)
    }

    /// Checks a text and/or a payload (any JSON value) for `room`.
    public static func make(room: String, text rawText: Any?, data rawData: Any?, maxChars: Int) -> Result<PublishRequest, PublishRefusal> {
        var text = ""
        if let raw = rawText, !(raw is NSNull) {
            guard let string = raw as? String else { return .failure(.badRequest("text must be a string")) }
            text = Sanitize.trimmed(Sanitize.visibleText(string))
            // Only invisible characters is no text: the same rule as a client's message.
            if !Sanitize.hasVisibleContent(text) { text = "" }
            if text.utf16.count > maxChars { return .failure(.badRequest("text must be \(maxChars) characters or less")) }
        }
        var data: String?
        if let raw = rawData, !(raw is NSNull) {
            guard let encoded = try? JSONSerialization.data(withJSONObject: raw, options: [.fragmentsAllowed, .withoutEscapingSlashes])
            else {
                return .failure(.badRequest("data must be JSON"))
            }
            data = String(decoding: encoded, as: UTF8.self)
        }
        if text.isEmpty && data == nil { return .failure(.badRequest("text or data is required")) }
        return .success(PublishRequest(room: room, text: text, data: data))
    }
}

/// Why a publish was refused, with the HTTP status it maps to.
public enum PublishRefusal: Error, Sendable, Equatable {
    case badRequest(String)
    case unknownRoom(String)
    case forbidden(String)
    /// The history store could not take it (a database down): nothing was published.
    case unavailable(String)

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .unknownRoom: 404
        case .forbidden: 403
        case .unavailable: 503
        }
    }

    public var reason: String {
        switch self {
        case let .badRequest(why): why
        case let .unknownRoom(room): "no room \(room): it has no rule in rooms.rules, no members and no history"
        case let .forbidden(why): why
        case let .unavailable(why): why
        }
    }
}
