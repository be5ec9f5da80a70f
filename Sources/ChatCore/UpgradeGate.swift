/// The checks taken at the HTTP upgrade, before any WebSocket state exists: which status a
/// refused request gets, or what the accepted client asked for. Pure, so it is tested without
/// sockets and the transport can ask it twice (once to refuse the upgrade, once to answer
/// with the status). Who the credential names is the authenticator's business; `admit`
/// then decides, from that identity, the session's name and whether its room is allowed.
public struct UpgradeGate: Sendable {
    public static let chatPath = "/chat"
    /// The subprotocol a client offers to carry its token in `Sec-WebSocket-Protocol`
    /// (`["chatd", "bearer.TOKEN"]`); chatd answers with it and never echoes the token.
    public static let subprotocol = "chatd"
    static let bearerProtocolPrefix = "bearer."

    public var allowedOrigins: Set<String>
    public var defaultRoom: String
    /// True with `proxy.connect_url`: a request without a token is the backend's to decide.
    public var connectProxy: Bool

    public init(allowedOrigins: Set<String>, defaultRoom: String, connectProxy: Bool = false) {
        self.allowedOrigins = allowedOrigins
        self.defaultRoom = defaultRoom
        self.connectProxy = connectProxy
    }

    public struct Request: Sendable {
        public var method: String
        public var target: String
        public var origin: String?
        public var authorization: String?
        /// `Sec-WebSocket-Protocol` values, split at commas.
        public var protocols: [String]
        /// True when the request carries `Upgrade: websocket`.
        public var wantsWebSocket: Bool

        public init(
            method: String, target: String, origin: String?, authorization: String?, protocols: [String] = [],
            wantsWebSocket: Bool
        ) {
            self.method = method
            self.target = target
            self.origin = origin
            self.authorization = authorization
            self.protocols = protocols
            self.wantsWebSocket = wantsWebSocket
        }
    }

    /// What an acceptable request asks for, before its credential is resolved.
    public struct Attempt: Sendable, Equatable {
        /// The token as presented (never logged); empty when `proxied`.
        public var credential: String
        /// The `name` parameter, sanitized; used only when the credential allows guest names.
        public var guestName: String
        public var room: String
        /// Set when the client asked for the echo endpoint (`echo=1`).
        public var echo: Bool
        /// `since=SEQ`: the last message the client has; it is sent exactly what came after.
        public var since: UInt64?
        /// True when the client offered the `chatd` subprotocol, which the answer must select.
        public var subprotocol: Bool
        /// True when the request carries no token and the connect proxy decides who it is.
        public var proxied: Bool

        public init(
            credential: String, guestName: String, room: String, echo: Bool = false, since: UInt64? = nil,
            subprotocol: Bool = false, proxied: Bool = false
        ) {
            self.credential = credential
            self.guestName = guestName
            self.room = room
            self.echo = echo
            self.since = since
            self.subprotocol = subprotocol
            self.proxied = proxied
        }
    }

    /// An admitted connection: what it asked for and who its credential says it is.
    public struct Session: Sendable, Equatable {
        public var attempt: Attempt
        public var identity: Identity

        public var name: String { identity.name }
        public var room: String { attempt.room }
        public var echo: Bool { attempt.echo }
        public var since: UInt64? { attempt.since }
        public var credential: String { attempt.credential }
    }

    public enum Decision<Accepted: Sendable & Equatable>: Sendable, Equatable {
        case accept(Accepted)
        /// An HTTP status and a short plain-text reason; no upgrade happens.
        case reject(status: Int, reason: String)
    }

    public func decide(_ request: Request) -> Decision<Attempt> {
        let (path, params) = QueryString.split(target: request.target)
        guard path == Self.chatPath else { return .reject(status: 404, reason: "not found") }
        guard request.method == "GET" else { return .reject(status: 405, reason: "method not allowed") }
        guard request.wantsWebSocket else {
            return .reject(status: 426, reason: "upgrade required: /chat speaks WebSocket only")
        }
        guard let origin = request.origin, allowedOrigins.contains(origin) else {
            return .reject(status: 403, reason: "origin not allowed")
        }
        let offersChatd = request.protocols.contains(Self.subprotocol)
        if !request.protocols.isEmpty && !offersChatd {
            return .reject(status: 400, reason: "unsupported subprotocol: offer \"chatd\" (with \"bearer.TOKEN\")")
        }
        let token = Self.credential(params: params, authorization: request.authorization, protocols: request.protocols) ?? ""
        if token.isEmpty && !connectProxy { return .reject(status: 401, reason: "missing or invalid token") }
        return .accept(
            Attempt(
                credential: token,
                guestName: Sanitize.name(params["name"]),
                room: Sanitize.room(params["room"], fallback: defaultRoom),
                echo: params["echo"] == "1",
                since: params["since"].flatMap { UInt64($0) },
                subprotocol: offersChatd,
                proxied: token.isEmpty
            ))
    }

    /// The session an attempt becomes once its credential resolved to `identity`, or the
    /// refusal when the identity may not use the room it asked for.
    public static func admit(_ attempt: Attempt, as identity: Identity, rule: RoomRule) -> Decision<Session> {
        var identity = identity
        if identity.guestNames { identity.name = attempt.guestName }
        if !attempt.echo, Authorization.join(identity, room: attempt.room, rule: rule) != nil {
            return .reject(status: 403, reason: "room not allowed for this credential")
        }
        return .accept(Session(attempt: attempt, identity: identity))
    }

    /// The article's `token` query parameter, `Authorization: Bearer` for programs, or a
    /// `bearer.TOKEN` subprotocol for browsers that keep tokens out of URLs.
    static func credential(params: [String: String], authorization: String?, protocols: [String]) -> String? {
        if let token = params["token"] { return token }
        if let auth = authorization { return bearerToken(auth) }
        return protocols.first { $0.hasPrefix(bearerProtocolPrefix) }.map { String($0.dropFirst(bearerProtocolPrefix.count)) }
    }

    /// The token of an `Authorization: Bearer TOKEN` header (the scheme is case-insensitive).
    public static func bearerToken(_ header: String?) -> String? {
        let prefix = "bearer "
        guard let header, header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix else { return nil }
        return Sanitize.trimmed(String(header.dropFirst(prefix.count)))
    }
}
