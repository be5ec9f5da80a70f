/// The admin API's decisions that need no server (`/api/admin/...`, the console's JSON): which
/// endpoint a path names, who may use it, which POSTs are accepted, which control commands
/// the console may run.
public enum AdminPolicy {
    public static let prefix = "/api/admin/"

    public enum Endpoint: String, Sendable, CaseIterable {
        case status, rooms, connections, audit, webhooks, series, actions

        /// Reads answer GET (and HEAD); `actions` answers POST only.
        public var method: String { self == .actions ? "POST" : "GET" }
    }

    /// The endpoint `path` names; nil for any other path under the prefix (a 404).
    public static func endpoint(path: String) -> Endpoint? {
        guard path.hasPrefix(prefix) else { return nil }
        return Endpoint(rawValue: String(path.dropFirst(prefix.count)))
    }

    /// The control commands the console may run: moderation and the webhook retry. Reading
    /// goes through the GET endpoints; `reload` and `publish` stay with chatctl (the host's
    /// operator), so a stolen admin token cannot change the configuration or speak as the server.
    public static let actions: [String] = [
        "kick", "delete", "mute", "unmute", "ban", "unban", "purge-user", "webhooks-retry",
    ]

    /// The audit log's actor for an action taken in the console by the identity `name`.
    public static func actor(name: String) -> String { "admin:\(name) (console)" }

    /// At most this many connections are listed (the answer says when there were more).
    public static let maxConnections = 1000

    public struct Refusal: Sendable, Equatable, Error {
        public var status: Int
        public var reason: String

        public init(_ status: Int, _ reason: String) {
            self.status = status
            self.reason = reason
        }
    }

    /// Whether an authenticated identity may use the API.
    public static func authorize(_ identity: Identity) -> Refusal? {
        identity.role == .admin ? nil : Refusal(403, "this credential's role is \(identity.role.rawValue); the admin API needs role admin")
    }

    /// A POST is refused unless its body is declared JSON (a cross-site form cannot send
    /// that without a CORS preflight, which chatd never answers) and, when the browser names
    /// its page's origin, that origin is one of `auth.allowed_origins`.
    public static func checkPost(contentType: String?, origin: String?, allowedOrigins: Set<String>) -> Refusal? {
        let type = contentType?.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces.lowercased() }
        guard type == "application/json" else {
            return Refusal(415, "the body must be JSON (Content-Type: application/json)")
        }
        if let origin, !allowedOrigins.contains(origin) {
            return Refusal(403, "origin not allowed (auth.allowed_origins)")
        }
        return nil
    }

    /// Why a console action is refused before it is run: a command outside `actions`.
    public static func checkAction(command: String?) -> Refusal? {
        guard let command else { return Refusal(400, "the body needs a \"command\" (one of \(actions.joined(separator: ", ")))") }
        guard actions.contains(command) else {
            return Refusal(400, "\"\(command)\" is not an admin action; allowed: \(actions.joined(separator: ", "))")
        }
        return nil
    }
}

/// `/api/admin/audit`'s filters: the newest `limit` entries whose action, actor and room match.
public struct AuditFilter: Sendable, Equatable {
    public static let maxLimit = 500
    /// How many of the newest entries are searched; older ones are reached with `chatctl audit`.
    public static let searched = 10_000

    public var limit = 100
    public var action: String?
    /// A substring of the actor (`admin:alice` finds `admin:alice (console)`).
    public var actor: String?
    /// Entries about this room: their target starts with `ROOM#`.
    public var room: String?

    public init(limit: Int = 100, action: String? = nil, actor: String? = nil, room: String? = nil) {
        self.limit = limit
        self.action = action
        self.actor = actor
        self.room = room
    }

    /// From the query's parameters; an empty value is no filter.
    public static func parse(_ parameters: [String: String]) -> Result<AuditFilter, AdminPolicy.Refusal> {
        var filter = AuditFilter()
        if let text = parameters["limit"], !text.isEmpty {
            guard let limit = Int(text), (1...maxLimit).contains(limit) else {
                return .failure(AdminPolicy.Refusal(400, "limit must be a whole number from 1 to \(maxLimit)"))
            }
            filter.limit = limit
        }
        if let unknown = parameters.keys.sorted().first(where: { !["limit", "action", "actor", "room"].contains($0) }) {
            return .failure(AdminPolicy.Refusal(400, "unknown parameter \(unknown) (limit, action, actor, room)"))
        }
        func nonEmpty(_ key: String) -> String? { parameters[key].flatMap { $0.isEmpty ? nil : $0 } }
        filter.action = nonEmpty("action")
        filter.actor = nonEmpty("actor")
        filter.room = nonEmpty("room")
        return .success(filter)
    }

    public func matches(_ entry: AuditEntry) -> Bool {
        if let action, entry.action != action { return false }
        if let actor, !entry.actor.contains(actor) { return false }
        if let room, !entry.target.hasPrefix(room + "#") { return false }
        return true
    }

    /// The matching entries of `entries` (oldest first), newest first, at most `limit`.
    public func apply(_ entries: [AuditEntry]) -> [AuditEntry] {
        var out: [AuditEntry] = []
        for entry in entries.reversed() where matches(entry) {
            out.append(entry)
            if out.count == limit { break }
        }
        return out
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
