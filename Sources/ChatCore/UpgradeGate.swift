/// The decision taken at the HTTP upgrade, before any WebSocket state exists: which status a
/// refused request gets, or who the accepted client is. Pure, so it is tested without sockets
/// and the transport can ask it twice (once to refuse the upgrade, once to answer with the status).
public struct UpgradeGate: Sendable {
    public static let chatPath = "/chat"

    public var allowedOrigins: Set<String>
    public var tokens: [String]
    /// Tokens that carry the moderator role (accepted at the upgrade like the others).
    public var moderatorTokens: [String]
    public var defaultRoom: String

    public init(allowedOrigins: Set<String>, tokens: [String], moderatorTokens: [String] = [], defaultRoom: String) {
        self.allowedOrigins = allowedOrigins
        self.tokens = tokens
        self.moderatorTokens = moderatorTokens
        self.defaultRoom = defaultRoom
    }

    public struct Request: Sendable {
        public var method: String
        public var target: String
        public var origin: String?
        public var authorization: String?
        /// True when the request carries `Upgrade: websocket`.
        public var wantsWebSocket: Bool

        public init(method: String, target: String, origin: String?, authorization: String?, wantsWebSocket: Bool) {
            self.method = method
            self.target = target
            self.origin = origin
            self.authorization = authorization
            self.wantsWebSocket = wantsWebSocket
        }
    }

    public struct Session: Sendable, Equatable {
        public var name: String
        public var room: String
        /// Set when the client asked for the echo endpoint (`echo=1`).
        public var echo: Bool
        /// The token the client presented, kept so that a reload can revoke the session.
        public var credential: String
        /// `since=SEQ`: the last message the client has; it is sent exactly what came after.
        public var since: UInt64?
        public var role: Role = .user

        public init(name: String, room: String, echo: Bool, credential: String, since: UInt64? = nil) {
            self.name = name
            self.room = room
            self.echo = echo
            self.credential = credential
            self.since = since
        }
    }

    public enum Decision: Sendable, Equatable {
        case accept(Session)
        /// An HTTP status and a short plain-text reason; no upgrade happens.
        case reject(status: Int, reason: String)
    }

    public func decide(_ request: Request) -> Decision {
        let (path, params) = QueryString.split(target: request.target)
        guard path == Self.chatPath else { return .reject(status: 404, reason: "not found") }
        guard request.method == "GET" else { return .reject(status: 405, reason: "method not allowed") }
        guard request.wantsWebSocket else {
            return .reject(status: 426, reason: "upgrade required: /chat speaks WebSocket only")
        }
        guard let origin = request.origin, allowedOrigins.contains(origin) else {
            return .reject(status: 403, reason: "origin not allowed")
        }
        guard let token = Self.credential(params: params, authorization: request.authorization),
              let role = role(of: token)
        else {
            return .reject(status: 401, reason: "missing or invalid token")
        }
        var session = Session(
            name: Sanitize.name(params["name"]),
            room: Sanitize.room(params["room"], fallback: defaultRoom),
            echo: params["echo"] == "1",
            credential: token,
            since: params["since"].flatMap { UInt64($0) }
        )
        session.role = role
        return .accept(session)
    }

    /// The role a token carries now, or nil when it is not configured (any more).
    public func role(of credential: String) -> Role? {
        // Both lists are always compared in full: no early exit reveals which matched.
        let moderator = ConstantTime.matchesAny(credential, in: moderatorTokens)
        let user = ConstantTime.matchesAny(credential, in: tokens)
        return moderator ? .moderator : (user ? .user : nil)
    }

    /// True while `credential` is still one of the configured tokens.
    public func stillValid(_ credential: String) -> Bool {
        role(of: credential) != nil
    }

    /// The article's `token` query parameter, or `Authorization: Bearer` for programs.
    static func credential(params: [String: String], authorization: String?) -> String? {
        if let token = params["token"] { return token }
        guard let auth = authorization else { return nil }
        let prefix = "bearer "
        guard auth.count > prefix.count, auth.prefix(prefix.count).lowercased() == prefix else { return nil }
        return String(auth.dropFirst(prefix.count)).trimmingSpaces()
    }
}

extension String {
    func trimmingSpaces() -> String { Sanitize.trimmed(self) }
}

/// What a credential may do beyond chatting.
public enum Role: String, Sendable, Codable {
    case user
    /// May delete any message of the rooms it is in.
    case moderator
}
