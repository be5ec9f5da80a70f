/// Error events that keep the connection open. The raw values are the stable `code`
/// strings clients match on (the article's five first); docs/protocol.md lists them all.
public enum ErrorCode: String, Error, Sendable, CaseIterable {
    case rateLimited = "rate_limited"
    case tooLarge = "too_large"
    case badJSON = "bad_json"
    case badType = "bad_type"
    case empty = "empty"
    case badField = "bad_field"
    case muted = "muted"
    case forbidden = "forbidden"
    case notFound = "not_found"
    /// A `message` to a room where only moderators or only the server may send.
    case readOnly = "read_only"
    /// An action on a room the connection has not joined.
    case notJoined = "not_joined"
    /// A `join` to a room at its `max_members`.
    case roomFull = "room_full"
    /// A `join` beyond `limits.max_rooms_per_connection`.
    case tooManyRooms = "too_many_rooms"
    /// A `message` the history store could not take (its database is down): not sent.
    case unavailable = "unavailable"
    /// A `join` of a room new to this server while it holds `limits.max_rooms` rooms.
    case serverFull = "server_full"
    /// A `refresh` whose token does not verify or names another user; the session still
    /// ends when its current credential expires.
    case refreshRejected = "refresh_rejected"
    /// A `message` the application's backend refused (`[proxy] publish_url` answered 403);
    /// the event's `message` is the backend's reason.
    case rejected = "rejected"
    /// A `message` not sent because the publish proxy did not answer usably and
    /// `proxy.publish_on_error` is `reject`: the client may send it again.
    case proxyUnavailable = "proxy_unavailable"
    /// A `react` with an emoji new to a message that has `limits.max_reactions_per_message`
    /// different ones already.
    case tooManyReactions = "too_many_reactions"

    /// The human-readable `message` sent with the code.
    public func message(maxChars: Int) -> String {
        switch self {
        case .rateLimited: return "Too many messages. Wait a moment."
        case .tooLarge: return "Message must be \(maxChars) characters or less."
        case .badJSON: return "Send JSON such as {\"type\":\"message\",\"text\":\"hi\"}."
        case .badType:
            return
                "Unknown event type. Send {\"type\":\"message\",\"text\":\"...\"}, {\"type\":\"join\",\"room\":\"...\"}, {\"type\":\"history\",\"before\":SEQ} or {\"type\":\"ping\"}."
        case .empty: return "Message text is required."
        case .muted: return "You are muted in this chat."
        case .forbidden: return "You may not do that."
        case .notFound: return "No such message."
        case .readOnly: return "This room is read-only for you."
        case .notJoined: return "Join the room first."
        case .roomFull: return "The room is full."
        case .tooManyRooms: return "Too many rooms on one connection; leave one first."
        case .unavailable: return "History is unavailable: your message was not sent. Try again shortly."
        case .serverFull: return "The server holds as many rooms as it may; try a room already in use, or later."
        case .refreshRejected:
            return
                "The new token was not accepted (it must be a valid token for the same user); the session ends when the current one expires."
        case .rejected: return "The message was rejected."
        case .proxyUnavailable: return "The message could not be checked, so it was not sent. Try again shortly."
        case .tooManyReactions: return "This message has as many different reactions as it may; use one of them."
        case .badField:
            return
                "A field has the wrong type or value: text must be a string; seq, before and limit positive integers, since a non-negative one; room a room name; emoji one emoji; token a string."
        }
    }
}

/// WebSocket close codes chatd sends, with the reason text it sends alongside.
public enum CloseCode: UInt16, Sendable {
    case normal = 1000
    case goingAway = 1001
    case protocolError = 1002
    case unsupportedData = 1003
    case invalidPayload = 1007
    case policyViolation = 1008
    case messageTooBig = 1009
    case internalError = 1011
    case tryAgainLater = 1013
}
