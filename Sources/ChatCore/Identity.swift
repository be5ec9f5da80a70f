/// Who a connection is, as its credential says: resolved once at the upgrade (and again on
/// reload), then consulted on every action.
public struct Identity: Sendable, Equatable {
    /// The display name the credential gives (or the guest name the client chose, where the
    /// credential allows guest names).
    public var name: String
    /// Identifies the user across connections: per-user rate limits and message authorship.
    public var userKey: String
    /// Rooms the credential may use; admins may use every room whatever this says.
    public var rooms: RoomPatterns
    /// Seconds since the epoch after which the credential is no longer valid (JWT `exp`).
    public var expiresAt: Double?
    // The one-byte fields last: each session holds an identity, and between 8-byte fields
    // they cost 7 bytes of padding apiece.
    public var role: Role
    /// True when the client may choose its own display name (`name` at the upgrade).
    public var guestNames: Bool

    public init(
        name: String, role: Role, rooms: RoomPatterns = .all, guestNames: Bool = false, userKey: String,
        expiresAt: Double? = nil
    ) {
        self.name = name
        self.role = role
        self.rooms = rooms
        self.guestNames = guestNames
        self.userKey = userKey
        self.expiresAt = expiresAt
    }

    /// Who the connection's messages are by: the user key, and where the holder picks a
    /// guest name the name too (the guests of one token are told apart by it).
    public var authorKey: String { guestNames ? "\(userKey):\(name)" : userKey }

    /// True when the credential lets its holder use `room` at all (room rules come on top).
    public func mayUse(room: String) -> Bool {
        role == .admin || rooms.matches(room)
    }
}

/// How operators name a user to mute, unmute or kick: by identity, never by display name
/// alone (anyone can type any guest name). Keys are what `chatctl connections` shows:
/// `credential:alice` (a bare `alice` means this), `jwt:ISSUER:SUBJECT`, `token:HASH:name`
/// (one guest of a plain token) or `token:HASH` (everyone using that token); and
/// `guest:NAME`, the guests called NAME on any plain token — plain tokens are for
/// development, and token and name are all the identity such a guest has.
public enum UserTarget {
    public static func normalized(_ target: String) -> String {
        target.contains(":") ? target : "credential:\(target)"
    }

    /// The keys a session answers to, most specific first: its author key (identity and,
    /// for guest names, the name), its credential's user key, and for a guest of a plain
    /// token `guest:NAME`.
    public static func keys(userKey: String, authorKey: String) -> [String] {
        guard authorKey != userKey else { return [userKey] }
        var keys = [authorKey, userKey]
        if userKey.hasPrefix("token:"), authorKey.hasPrefix(userKey + ":") {
            keys.append("guest:" + authorKey.dropFirst(userKey.count + 1))
        }
        return keys
    }

    /// The key `chatctl connections` shows: the one a mute cannot be escaped from by picking
    /// another name. A credential or a JWT subject is its holder whatever name it chose (a
    /// credential shared with `guest_names` is everyone holding it); a guest of a plain token
    /// has nothing but token and name, so it is shown as `token:HASH:name`.
    public static func shown(userKey: String, authorKey: String) -> String {
        userKey.hasPrefix("token:") ? authorKey : userKey
    }

    public static func matches(_ target: String, userKey: String, authorKey: String) -> Bool {
        keys(userKey: userKey, authorKey: authorKey).contains(normalized(target))
    }
}

/// What a credential may do beyond chatting.
public enum Role: String, Sendable, Codable, CaseIterable {
    case user
    /// May delete any message of the rooms it is in, and send in moderator-only rooms.
    case moderator
    /// A moderator in every room, whatever its room list and the rooms' join rules say.
    case admin

    public var moderates: Bool { self != .user }
}

/// Room names and prefix patterns: `lobby`, `team-*`, `*`.
public struct RoomPatterns: Sendable, Equatable {
    public private(set) var exact: Set<String>
    public private(set) var prefixes: [String]
    public private(set) var any: Bool

    public static let all = RoomPatterns(any: true)

    private init(any: Bool) {
        exact = []
        prefixes = []
        self.any = any
    }

    /// Nil when a pattern is neither a room name nor a room-name prefix followed by `*`.
    public init?(_ patterns: [String]) {
        self.init(any: false)
        for pattern in patterns {
            guard Self.isValid(pattern) else { return nil }
            if pattern == "*" {
                any = true
            } else if pattern.hasSuffix("*") {
                prefixes.append(String(pattern.dropLast()))
            } else {
                exact.insert(pattern)
            }
        }
    }

    public static func isValid(_ pattern: String) -> Bool {
        if pattern == "*" { return true }
        let name = pattern.hasSuffix("*") ? String(pattern.dropLast()) : pattern
        return Sanitize.isValidRoom(name)
    }

    public func matches(_ room: String) -> Bool {
        any || exact.contains(room) || prefixes.contains { room.hasPrefix($0) }
    }
}
