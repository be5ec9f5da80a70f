/// What a connection does with one client command, decided without I/O against the session
/// as it is now: the rooms it is in, its identity and the room rules (both change on reload).
/// The NIO layer carries the plan out: it answers, refuses, or asks the hub or the store.
public enum CommandPlan: Sendable, Equatable {
    /// Answer `pong` (the article's application-level ping).
    case pong
    /// Already a member: answer `joined` again, nothing else.
    case alreadyJoined(room: String)
    /// Join the room under its rule (capacity, slow-consumer policy); `since` resumes it.
    case join(room: String, since: UInt64?, rule: RoomRule)
    case leave(room: String)
    /// Read the messages after `since` from the room (a resume without reconnecting).
    case catchUp(room: String, since: UInt64)
    /// Read older messages: before `before` (nil: the newest), at most `limit`.
    case history(room: String, before: UInt64?, limit: Int)
    /// Store and broadcast the message; with a `nonce`, only if this author has not already
    /// stored one with it in the room (`MessageNonce`).
    case publish(room: String, text: String, nonce: String? = nil, replyTo: UInt64? = nil)
    /// Delete the message if the actor may: a moderator any, an author their own in time.
    case delete(room: String, seq: UInt64, asModerator: Bool)
    /// Replace the message's text if the actor may: a moderator any, an author their own in
    /// time (`moderation.author_edit_seconds`).
    case edit(room: String, seq: UInt64, text: String, asModerator: Bool)
    /// Read a message's earlier versions (moderators).
    case versions(room: String, seq: UInt64)
    /// Add or remove the sender's reaction (anyone who may read the room and is not muted).
    case react(room: String, seq: UInt64, emoji: String, added: Bool)
    /// Verify the token off the event loop; if it is for the same user, it takes over the
    /// session (`TokenRefresh`).
    case refresh(token: String)
    /// Tell the room's other members that the sender is typing, unless it did in the last
    /// `Typing.intervalNanoseconds` (`Typing.allowed`).
    case typing(room: String)
    /// Store the identity's read position in the room (it only moves forward), answer it,
    /// and tell the identity's other connections (`ReadMarkers`).
    case read(room: String, seq: UInt64)
    /// Answer `rooms`: the connection's rooms and the identity's others, with read positions.
    case rooms
    /// Answer `members`: who is in the room.
    case members(room: String)
    /// Nothing at all: a `typing` from someone who may not send there (muted, read-only)
    /// is dropped without an error, as extra ones are.
    case drop
    /// Answer with this error event; nothing else happens.
    case refuse(ErrorCode)

    /// The session facts a plan depends on.
    public struct Session: Sendable {
        public var identity: Identity
        /// The room named at the upgrade: commands that name no room mean it.
        public var primaryRoom: String
        /// The rooms joined, in the order joined.
        public var rooms: [String]
        public var maxRooms: Int
        public var rules: RoomRules

        public init(identity: Identity, primaryRoom: String, rooms: [String], maxRooms: Int, rules: RoomRules) {
            self.identity = identity
            self.primaryRoom = primaryRoom
            self.rooms = rooms
            self.maxRooms = maxRooms
            self.rules = rules
        }

        /// The room a command means, if this connection is in it.
        func memberRoom(_ named: String?) -> String? {
            let room = named ?? primaryRoom
            return rooms.contains(room) ? room : nil
        }

        /// The room a read or a delete means: joined, and still readable by this identity.
        func readableRoom(_ named: String?) -> Result<String, ErrorCode> {
            guard let room = memberRoom(named) else { return .failure(.notJoined) }
            if let denied = Authorization.read(identity, room: room, rule: rules.rule(for: room)) { return .failure(denied) }
            return .success(room)
        }
    }

    /// The plan for `command`. `isMuted` is asked only for a message, an author's edit, a reaction or `typing` (it is a lookup in the
    /// moderation state, not a session fact).
    public static func plan(_ command: ClientCommand, for session: Session, isMuted: () -> Bool) -> CommandPlan {
        switch command {
        case .ping:
            return .pong
        case let .join(room, since):
            if session.rooms.contains(room) { return .alreadyJoined(room: room) }
            let rule = session.rules.rule(for: room)
            if let denied = Authorization.join(session.identity, room: room, rule: rule) { return .refuse(denied) }
            if session.rooms.count >= session.maxRooms { return .refuse(.tooManyRooms) }
            return .join(room: room, since: since, rule: rule)
        case let .leave(room):
            return session.rooms.contains(room) ? .leave(room: room) : .refuse(.notJoined)
        case let .catchUp(since, named):
            return session.readableRoom(named).map { .catchUp(room: $0, since: since) }.orRefusal
        case let .history(before, limit, named):
            return session.readableRoom(named).map { .history(room: $0, before: before, limit: limit) }.orRefusal
        case let .message(text, named, nonce, replyTo):
            guard let room = session.memberRoom(named) else { return .refuse(.notJoined) }
            if let denied = Authorization.send(session.identity, room: room, rule: session.rules.rule(for: room)) {
                return .refuse(denied)
            }
            if isMuted() { return .refuse(.muted) }
            return .publish(room: room, text: text, nonce: nonce, replyTo: replyTo)
        case let .typing(named):
            guard let room = session.memberRoom(named) else { return .refuse(.notJoined) }
            if Authorization.send(session.identity, room: room, rule: session.rules.rule(for: room)) != nil || isMuted() {
                return .drop
            }
            return .typing(room: room)
        case let .refresh(token):
            // Only a credential that expires is renewed; a static one has nothing to refresh.
            return session.identity.expiresAt == nil ? .refuse(.refreshRejected) : .refresh(token: token)
        case let .delete(seq, named):
            return session.readableRoom(named).map { .delete(room: $0, seq: seq, asModerator: session.identity.role.moderates) }
                .orRefusal
        case let .edit(seq, text, named):
            let room: String
            switch session.readableRoom(named) {
            case let .success(readable): room = readable
            case let .failure(code): return .refuse(code)
            }
            if session.identity.role.moderates { return .edit(room: room, seq: seq, text: text, asModerator: true) }
            // An author edits as they send: not where they may not send, nor while muted.
            if let denied = Authorization.send(session.identity, room: room, rule: session.rules.rule(for: room)) {
                return .refuse(denied)
            }
            if isMuted() { return .refuse(.muted) }
            return .edit(room: room, seq: seq, text: text, asModerator: false)
        case let .react(seq, emoji, added, named):
            // Reactions say nothing new: a room read-only for the sender still takes them.
            return session.readableRoom(named).map { isMuted() ? .refuse(.muted) : .react(room: $0, seq: seq, emoji: emoji, added: added) }
                .orRefusal
        case .read, .rooms:
            return planReadMarker(command, for: session)
        case let .members(named):
            return session.readableRoom(named).map { .members(room: $0) }.orRefusal
        case let .versions(seq, named):
            guard session.identity.role.moderates else { return .refuse(.forbidden) }
            return session.readableRoom(named).map { .versions(room: $0, seq: seq) }.orRefusal
        }
    }
}

extension Result where Success == CommandPlan, Failure == ErrorCode {
    fileprivate var orRefusal: CommandPlan {
        switch self {
        case let .success(plan): plan
        case let .failure(code): .refuse(code)
        }
    }
}

/// `typing` is told at most once per connection and room in this interval; more are dropped
/// silently (clients send one per keystroke or so, and the others need one per stretch).
public enum Typing {
    public static let intervalNanoseconds: UInt64 = 2_000_000_000

    /// True when a `typing` at `now` (monotonic nanoseconds) is told, given the last one told
    /// at `last` (0: never).
    public static func allowed(last: UInt64, now: UInt64) -> Bool {
        last == 0 || now < last || now - last >= intervalNanoseconds
    }
}
