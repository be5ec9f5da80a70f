/// Who is in a room on this node, as the `members` command answers it: each display name
/// once, with its number of connections, by name. Names on other nodes are not known here
/// (nodes tell each other counts, not names): they are counted in `elsewhere`.
public struct MemberList: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public let name: String
        public let connections: Int
    }

    /// At most this many names are listed; `truncated` says there were more. Small, because
    /// the answer is sent to each asker: the list's bytes are what a crowd asking costs.
    public static let cap = 100
    /// A connection is answered at most once per this interval (more are `rate_limited`):
    /// a request of a few bytes must not make chatd send kilobytes as fast as it is asked.
    public static let perConnectionNanoseconds: UInt64 = 2_000_000_000

    /// `members` refused in a row (too soon) after which the connection is closed (1008), as a
    /// flood of refused frames is: it is not waiting for an answer.
    public static let refusalsBeforeClose = 20

    /// Whether a connection last answered at `last` (uptime ns; 0: never) may be answered at `now`.
    public static func mayAsk(last: UInt64, now: UInt64) -> Bool {
        last == 0 || now &- last >= perConnectionNanoseconds
    }
    /// How long one list answers every asker of its room while no one joined or left here:
    /// a big room's members asking each cost one walk of the room, not one each.
    public static let freshNanoseconds: UInt64 = 1_000_000_000
    /// However the room changes, a list is not made again sooner than this: a room with
    /// joins and leaves all the time is walked at most ten times a second.
    public static let minimumAgeNanoseconds: UInt64 = 100_000_000

    public let members: [Member]
    public let truncated: Bool
    /// The connections the list was made from (all of them, also when truncated).
    public let connections: Int

    /// Whether a list made at `madeAt`, after the room's `madeAfter` joins and leaves here,
    /// still answers at `now`, after `changes`.
    public static func answers(madeAt: UInt64, madeAfter: UInt64, now: UInt64, changes: UInt64) -> Bool {
        let age = now &- madeAt
        if age < minimumAgeNanoseconds { return true }
        return age < freshNanoseconds && madeAfter == changes
    }

    /// `names`: one per connection in the room on this node.
    public init(names: some Sequence<String>) {
        var counts: [String: Int] = [:]
        var connections = 0
        for name in names {
            counts[name, default: 0] += 1
            connections += 1
        }
        self.connections = connections
        let sorted = counts.sorted { $0.key < $1.key }
        members = sorted.prefix(Self.cap).map { Member(name: $0.key, connections: $0.value) }
        truncated = sorted.count > Self.cap
    }
}
