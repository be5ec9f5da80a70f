/// Per-room rules from `[rooms.rules.PATTERN]`: who may join, who may send, how many may be
/// in the room at once. A room takes the rule of its exact name, else of the longest prefix
/// pattern that matches, else `*`, else the default (anyone may join and send).
public struct RoomRule: Sendable, Equatable {
    public enum Join: String, Sendable, CaseIterable {
        case everyone
        case moderators
    }

    public enum Send: String, Sendable, CaseIterable {
        case members
        case moderators
        /// Dashboards: clients listen; only the server publishes (API, chatctl).
        case server
    }

    /// What happens to a member whose connection falls behind (more than
    /// `limits.send_buffer_bytes` unsent).
    public enum SlowConsumer: String, Sendable, CaseIterable {
        /// Chat: close with 1013; the client reconnects and resumes from history with `since`.
        case disconnect
        /// Dashboards: keep the newest `limits.send_queue_frames` events, tell the client how
        /// many it missed.
        case dropOldest = "drop_oldest"
    }

    public var join: Join
    public var send: Send
    /// Most members at once; 0 is no limit.
    public var maxMembers: Int
    public var slowConsumer: SlowConsumer

    public init(join: Join = .everyone, send: Send = .members, maxMembers: Int = 0, slowConsumer: SlowConsumer = .disconnect) {
        self.join = join
        self.send = send
        self.maxMembers = maxMembers
        self.slowConsumer = slowConsumer
    }
}

public struct RoomRules: Sendable, Equatable {
    private var exact: [String: RoomRule] = [:]
    /// Prefix patterns, longest first, so the most specific one wins.
    private var prefixes: [(prefix: String, rule: RoomRule)] = []
    private var fallback = RoomRule()
    private var hasFallback = false

    public init(_ rules: [String: RoomRule] = [:]) {
        for (pattern, rule) in rules {
            if pattern == "*" {
                fallback = rule
                hasFallback = true
            } else if pattern.hasSuffix("*") {
                prefixes.append((String(pattern.dropLast()), rule))
            } else {
                exact[pattern] = rule
            }
        }
        prefixes.sort { $0.prefix.count > $1.prefix.count }
    }

    public func rule(for room: String) -> RoomRule {
        if let rule = exact[room] { return rule }
        return prefixes.first { room.hasPrefix($0.prefix) }?.rule ?? fallback
    }

    /// True when the configuration names this room (its name, a prefix of it, or `*`).
    public func isConfigured(_ room: String) -> Bool {
        hasFallback || exact[room] != nil || prefixes.contains { room.hasPrefix($0.prefix) }
    }

    public static func == (a: RoomRules, b: RoomRules) -> Bool {
        a.exact == b.exact && a.fallback == b.fallback && a.hasFallback == b.hasFallback
            && a.prefixes.map(\.prefix) == b.prefixes.map(\.prefix) && a.prefixes.map(\.rule) == b.prefixes.map(\.rule)
    }
}

/// The authorization decisions, one per action, against the identity and the room's rule as
/// they are now (both change on reload). Nil means allowed.
public enum Authorization {
    public static func join(_ identity: Identity, room: String, rule: RoomRule) -> ErrorCode? {
        guard identity.mayUse(room: room) else { return .forbidden }
        if rule.join == .moderators && !identity.role.moderates { return .forbidden }
        return nil
    }

    public static func send(_ identity: Identity, room: String, rule: RoomRule) -> ErrorCode? {
        guard identity.mayUse(room: room) else { return .forbidden }
        switch rule.send {
        case .members: return nil
        case .moderators: return identity.role.moderates ? nil : .readOnly
        case .server: return .readOnly
        }
    }

    /// Reading history needs what joining needs: a room one may not join is not readable.
    public static func read(_ identity: Identity, room: String, rule: RoomRule) -> ErrorCode? {
        join(identity, room: room, rule: rule)
    }
}
