/// Who is in a room on this node, as the `members` command answers it: each display name
/// once, with its number of connections, by name. Names on other nodes are not known here
/// (nodes tell each other counts, not names): they are counted in `elsewhere`.
public struct MemberList: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public let name: String
        public let connections: Int
    }

    /// At most this many names are listed; `truncated` says there were more.
    public static let cap = 200
    /// How long one list answers every asker of its room: a big room's members asking each
    /// cost one walk of the room per interval, not one each.
    public static let freshNanoseconds: UInt64 = 1_000_000_000

    public let members: [Member]
    public let truncated: Bool

    /// `names`: one per connection in the room on this node.
    public init(names: some Sequence<String>) {
        var counts: [String: Int] = [:]
        for name in names { counts[name, default: 0] += 1 }
        let sorted = counts.sorted { $0.key < $1.key }
        members = sorted.prefix(Self.cap).map { Member(name: $0.key, connections: $0.value) }
        truncated = sorted.count > Self.cap
    }
}
