import Foundation

/// chatd asking the application's backend (`[proxy]`): the JSON it posts, and what each answer
/// means. Pure, so every status and body a backend may send is decided in tests without a
/// socket; the transport only carries the bytes. A backend is trusted to decide, not to be
/// well-formed: whatever it answers, nothing here traps, and a body that is not what the
/// protocol says counts as the backend being unavailable, never as consent.
public enum BackendProxy {
    /// The most of an answer's body chatd reads; a longer one is a broken backend.
    public static let maxAnswerBytes = 65536
    /// A refusal's reason as shown to the client: printable, one line, at most this long.
    public static let maxReasonChars = 200

    /// Header names chatd never forwards, whatever `proxy.forward_headers` says: the
    /// connection's own framing, not the client's words to the backend.
    static let neverForwarded: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive",
    ]

    /// True when chatd may forward a header of this name to the backend.
    public static func isForwardable(_ name: String) -> Bool {
        !name.isEmpty && !neverForwarded.contains(name.lowercased())
            && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
    }

    // MARK: Connect

    /// What chatd knows of an upgrade that carries no token.
    public struct ConnectRequest: Sendable, Equatable {
        /// The client's address (the proxy's `X-Forwarded-For` when it is trusted).
        public var address: String
        public var origin: String
        public var room: String
        /// The `name` parameter, sanitized (the backend decides whether to use it).
        public var name: String
        /// The configured headers the request carried, by lowercase name, in
        /// `proxy.forward_headers` order; repeated headers joined as HTTP joins them.
        public var headers: [(name: String, value: String)]

        public init(address: String, origin: String, room: String, name: String, headers: [(name: String, value: String)]) {
            self.address = address
            self.origin = origin
            self.room = room
            self.name = name
            self.headers = headers
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.address == b.address && a.origin == b.origin && a.room == b.room && a.name == b.name
                && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
        }

        /// `{"address","origin","room","name","headers":{…}}`
        public var body: [UInt8] {
            var json = JSONWriter()
            json.beginObject()
            json.field("address", address)
            json.field("origin", origin)
            json.field("room", room)
            json.field("name", name)
            json.key("headers")
            json.beginObject()
            for header in headers { json.field(header.name, header.value) }
            json.endObject()
            json.endObject()
            return json.bytes
        }
    }

    /// The backend's decision on a connection.
    public enum ConnectVerdict: Sendable, Equatable {
        /// 200 with an identity: the connection is admitted as it.
        case admit(Identity)
        /// 401 or 403: refused with the backend's status and reason.
        case refuse(status: Int, reason: String)
        /// No usable answer (timeout, refused connection, 5xx, another status, a body that
        /// is not the protocol's): refused with 503. `detail` is for the log only.
        case unavailable(detail: String)
    }

    /// Reads the backend's answer: `status` nil when none came (timeout, connection refused).
    /// `now` is seconds since 1970, for `expires_at`.
    public static func connectVerdict(status: Int?, body: some Collection<UInt8>, now: Double) -> ConnectVerdict {
        guard let status else { return .unavailable(detail: "no answer") }
        switch status {
        case 200:
            return admission(body, now: now)
        case 401, 403:
            return .refuse(status: status, reason: reason(in: body) ?? "refused by the application")
        default:
            return .unavailable(detail: "answered \(status)")
        }
    }

    /// `{"user","name","role","rooms","expires_at"}`: `user` required; `name` defaults to
    /// `user`; `role` to `user`; `rooms` to every room; `expires_at` (seconds since 1970) to
    /// none. The identity's key is `proxy:USER`, what operators mute and kick by.
    static func admission(_ body: some Collection<UInt8>, now: Double) -> ConnectVerdict {
        guard let object = jsonObject(body) else { return .unavailable(detail: "200 without a JSON object") }
        guard let user = object["user"] as? String, !user.isEmpty, user.utf8.count <= 256 else {
            return .unavailable(detail: "200 without user (a string of 1-256 bytes)")
        }
        var name = user
        if let value = object["name"], !(value is NSNull) {
            guard let text = value as? String else { return .unavailable(detail: "name is not a string") }
            name = text
        }
        guard Sanitize.isValidName(name) else {
            return .unavailable(detail: "name must be 1-24 of A-Z a-z 0-9 _ - and space (set name when user is not one)")
        }
        var role = Role.user
        if let value = object["role"], !(value is NSNull) {
            guard let text = value as? String, let parsed = Role(rawValue: text) else {
                return .unavailable(detail: "role must be user, moderator or admin")
            }
            role = parsed
        }
        var rooms = RoomPatterns.all
        if let value = object["rooms"], !(value is NSNull) {
            guard let list = value as? [String], let parsed = RoomPatterns(list) else {
                return .unavailable(detail: "rooms must be a list of room names or prefix* patterns")
            }
            rooms = parsed
        }
        var expiresAt: Double?
        if let value = object["expires_at"], !(value is NSNull) {
            guard let number = value as? NSNumber, !isBool(number), number.doubleValue.isFinite else {
                return .unavailable(detail: "expires_at must be a number (seconds since 1970)")
            }
            if !(number.doubleValue > now) { return .refuse(status: 401, reason: "session expired") }
            expiresAt = JWTClaims.clampedExpiry(number.doubleValue, now: now)
        }
        return .admit(
            Identity(name: name, role: role, rooms: rooms, userKey: "proxy:\(JWTClaims.keyPart(user))", expiresAt: expiresAt))
    }

    // MARK: Publish

    /// A client's message, before it is stored.
    public struct PublishRequest: Sendable, Equatable {
        public var room: String
        /// The sender's identity key (`proxy:USER`, `jwt:ISS:SUB`, …).
        public var user: String
        public var name: String
        public var text: String
        public var address: String
        /// An edit: the `seq` of the message whose text `text` is to replace.
        public var edit: UInt64?

        public init(room: String, user: String, name: String, text: String, address: String, edit: UInt64? = nil) {
            self.room = room
            self.user = user
            self.name = name
            self.text = text
            self.address = address
            self.edit = edit
        }

        /// `{"room","user","name","text","address"}`, and `"edit": SEQ` for an edit.
        public var body: [UInt8] {
            var json = JSONWriter()
            json.beginObject()
            json.field("room", room)
            json.field("user", user)
            json.field("name", name)
            json.field("text", text)
            json.field("address", address)
            if let edit { json.field("edit", edit) }
            json.endObject()
            return json.bytes
        }
    }

    /// The backend's decision on a message.
    public enum PublishVerdict: Sendable, Equatable {
        /// Store this text: the client's, or the backend's rewrite of it.
        case accept(text: String)
        /// 403: not stored; the sender gets the error `rejected` with this reason.
        case reject(reason: String)
        /// No usable answer; `proxy.publish_on_error` decides. `detail` is for the log.
        case unavailable(detail: String)
    }

    /// Reads the answer to `request`. A 200 with an empty body or without `text` keeps the
    /// client's text; a rewritten text is cleaned and bounded as a client's would be.
    public static func publishVerdict(
        status: Int?, body: some Collection<UInt8>, request: PublishRequest, maxChars: Int
    ) -> PublishVerdict {
        guard let status else { return .unavailable(detail: "no answer") }
        switch status {
        case 200, 204:
            if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .accept(text: request.text) }
            guard let object = jsonObject(body) else { return .unavailable(detail: "\(status) without a JSON object") }
            guard let value = object["text"], !(value is NSNull) else { return .accept(text: request.text) }
            guard let raw = value as? String else { return .unavailable(detail: "text is not a string") }
            switch ClientCommand.messageText(raw, maxChars: maxChars) {
            case let .success(text): return .accept(text: text)
            case .failure(.tooLarge): return .unavailable(detail: "the rewritten text is longer than limits.max_message_chars")
            case .failure: return .unavailable(detail: "the rewritten text is empty")
            }
        case 403:
            return .reject(reason: reason(in: body) ?? "rejected by the application")
        default:
            return .unavailable(detail: "answered \(status)")
        }
    }

    // MARK: Shared

    /// `reason` of a `{"reason": "…"}` body, made safe to show: control characters and
    /// invisible ones dropped, trimmed, cut at `maxReasonChars`.
    static func reason(in body: some Collection<UInt8>) -> String? {
        guard let raw = jsonObject(body)?["reason"] as? String else { return nil }
        var text = ""
        // Printable and one line: no controls, no line or paragraph separators, no format
        // characters (zero-width spaces, direction overrides).
        for scalar in raw.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator, .format, .surrogate, .unassigned, .privateUse: continue
            default: text.unicodeScalars.append(scalar)
            }
        }
        text = Sanitize.trimmed(Sanitize.visibleText(text))
        guard Sanitize.hasVisibleContent(text) else { return nil }
        return text.count > maxReasonChars ? String(text.prefix(maxReasonChars)) : text
    }

    /// JSON `true`/`false`, which Foundation hands over as NSNumbers: on Linux `0 is Bool`
    /// holds too, so the number's own type decides.
    static func isBool(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    private static func jsonObject(_ body: some Collection<UInt8>) -> [String: Any]? {
        guard body.count <= maxAnswerBytes else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}
