/// What a client may ask for in a text frame, decoded strictly. Anything that is not one of
/// these becomes an `ErrorCode`, never a crash (the article's server dies on `null`).
/// `room` is nil when the client named none: the connection's first room is meant.
public enum ClientCommand: Sendable, Equatable {
    /// `nonce` is the client's own id for the message (`MessageNonce`): a resend with the
    /// same one stores nothing new.
    case message(text: String, room: String?, nonce: String? = nil, replyTo: UInt64? = nil)
    case ping
    /// Older messages: those before `before` (default: the newest), at most `limit`.
    case history(before: UInt64?, limit: Int, room: String?)
    /// Catch up: the messages after `since`, as a resume at the upgrade would send them.
    case catchUp(since: UInt64, room: String?)
    /// Deletes the message with this `seq` in the room.
    case delete(seq: UInt64, room: String?)
    /// Replaces the text of the message with this `seq` in the room.
    case edit(seq: UInt64, text: String, room: String?)
    /// A moderator asks for the texts the message had before its edits.
    case versions(seq: UInt64, room: String?)
    /// Adds (`react`) or removes (`unreact`) the sender's `emoji` on the message.
    case react(seq: UInt64, emoji: String, added: Bool, room: String?)
    /// Joins another room; `since` resumes it as at the upgrade.
    case join(room: String, since: UInt64?)
    case leave(room: String)
    /// A new credential for the same user, before the current one expires (`expiring`).
    case refresh(token: String)
    /// The sender is typing in the room (told to its other members, never stored).
    case typing(room: String?)
    /// The identity has read the room up to `seq` (`ReadMarkers`).
    case read(seq: UInt64, room: String?)
    /// The identity's rooms with their read positions and unread counts.
    case rooms
    /// Who is in a room (`MemberList`).
    case members(room: String?)

    /// The longest `refresh` token taken (16 KiB, twice `limits.max_header_bytes`' default).
    public static let maxTokenBytes = 16384

    /// Every member any request is read for (`RequestObject` keeps no other).
    static let fields = ["type", "room", "text", "nonce", "since", "before", "limit", "replyTo", "token", "seq", "emoji"]

    /// The most messages one `history` request returns.
    public static let maxHistoryPage = 200

    /// A message's text as it is stored: hidden characters removed, trimmed, not empty, at
    /// most `maxChars` UTF-16 units. Also applied to a text the publish proxy rewrote.
    public static func messageText(_ raw: String, maxChars: Int) -> Result<String, ErrorCode> {
        let text = Sanitize.trimmed(Sanitize.visibleText(raw))
        if !Sanitize.hasVisibleContent(text) { return .failure(.empty) }
        if text.utf16.count > maxChars { return .failure(.tooLarge) }
        return .success(text)
    }

    /// Decodes one text frame. `maxChars` counts UTF-16 units, as the browser's
    /// `maxlength` and JavaScript's `length` do, so the page and the server agree.
    public static func decode(_ utf8: some Collection<UInt8>, maxChars: Int) -> Result<ClientCommand, ErrorCode> {
        decodeRequest(utf8, maxChars: maxChars).command
    }

    /// Decodes one text frame, and finds the `nonce` any request may carry (1–64 printable
    /// ASCII characters; another value is no nonce, except on a `message`, where it is
    /// `bad_field`): its error, if it fails, repeats it. Also for a request that fails to
    /// decode, when its JSON is an object.
    public static func decodeRequest(
        _ utf8: some Collection<UInt8>, maxChars: Int
    ) -> (command: Result<ClientCommand, ErrorCode>, nonce: String?) {
        let event: RequestObject
        switch RequestObject.parse(utf8, keeping: fields) {
        case let .success(object): event = object
        case .failure(.notObject): return (.failure(.badType), nil)
        case .failure(.notJSON): return (.failure(.badJSON), nil)
        }
        var nonce: String?
        if let given = event["nonce"]?.string, MessageNonce.isValid(given, maxLength: MessageNonce.maxClientLength) {
            nonce = given
        }
        return (decode(event: event, maxChars: maxChars), nonce)
    }

    private static func decode(event: RequestObject, maxChars: Int) -> Result<ClientCommand, ErrorCode> {
        guard let type = event["type"]?.string else { return .failure(.badType) }
        let room: String?
        switch event["room"] {
        case nil, .null: room = nil
        case let .string(name) where Sanitize.isValidRoom(name): room = name
        default: return .failure(.badField)
        }
        switch type {
        case "join", "leave":
            guard let room else { return .failure(.badField) }
            if type == "leave" { return .success(.leave(room: room)) }
            var since: UInt64?
            if let value = event["since"], value != .null {
                guard let v = value.unsigned else { return .failure(.badField) }
                since = v
            }
            return .success(.join(room: room, since: since))
        case "message":
            let raw = event["text"]
            if raw == nil || raw == .null { return .failure(.empty) }
            guard let string = raw?.string else { return .failure(.badField) }
            var nonce: String?
            if let value = event["nonce"], value != .null {
                guard let given = value.string, MessageNonce.isValid(given, maxLength: MessageNonce.maxClientLength) else {
                    return .failure(.badField)
                }
                nonce = given
            }
            var replyTo: UInt64?
            if let value = event["replyTo"], value != .null {
                // Stored as a signed 64-bit integer: a larger one would read back otherwise.
                guard let seq = value.unsigned, seq > 0, seq <= UInt64(Int64.max) else { return .failure(.badField) }
                replyTo = seq
            }
            return messageText(string, maxChars: maxChars).map { .message(text: $0, room: room, nonce: nonce, replyTo: replyTo) }
        case "ping":
            return .success(.ping)
        case "typing":
            return .success(.typing(room: room))
        case "refresh":
            // A token longer than any upgrade could carry is refused before it is verified:
            // with `limits.max_frame_bytes` raised, a refresh must not cost a 4 MB signature check.
            guard let token = event["token"]?.string, !token.isEmpty, token.utf8.count <= maxTokenBytes else {
                return .failure(.badField)
            }
            return .success(.refresh(token: token))
        case "delete", "edit", "react", "unreact", "versions":
            guard let seq = event["seq"]?.unsigned, seq > 0 else { return .failure(.badField) }
            if type == "delete" { return .success(.delete(seq: seq, room: room)) }
            if type == "versions" { return .success(.versions(seq: seq, room: room)) }
            if type == "react" || type == "unreact" {
                guard let emoji = event["emoji"]?.string, Reactions.isEmoji(emoji) else { return .failure(.badField) }
                return .success(.react(seq: seq, emoji: emoji, added: type == "react", room: room))
            }
            let raw = event["text"]
            if raw == nil || raw == .null { return .failure(.empty) }
            guard let string = raw?.string else { return .failure(.badField) }
            return messageText(string, maxChars: maxChars).map { .edit(seq: seq, text: $0, room: room) }
        case "history":
            if let since = event["since"], since != .null {
                guard let v = since.unsigned else { return .failure(.badField) }
                return .success(.catchUp(since: v, room: room))
            }
            let before = event["before"]
            let limit = event["limit"]
            var beforeSeq: UInt64?
            if let before, before != .null {
                guard let v = before.unsigned else { return .failure(.badField) }
                beforeSeq = v
            }
            var count = 50
            if let limit, limit != .null {
                guard let v = limit.unsigned, v > 0 else { return .failure(.badField) }
                count = Int(min(v, UInt64(maxHistoryPage)))
            }
            return .success(.history(before: beforeSeq, limit: count, room: room))
        case "read", "rooms":
            return decodeReadMarker(type: type, event, room: room)
        case "members":
            return .success(.members(room: room))
        default:
            return .failure(.badType)
        }
    }
}
