/// A resume (`since`) planned without I/O: which stored messages must be read before the
/// member enters, and what it is sent. The hub supplies the room's state (read under the
/// room's lock) and carries out the reads; every decision is here, so each edge (a read that
/// fails, a gap over the limit, messages arriving between the read and the entry, numbers a
/// client saw on another node) is tested without a store or a socket.
public enum ResumePlan {
    /// What a joining session is sent first: the room's window, or for a resume exactly the
    /// messages after `since`, with `recovered` telling whether that was possible.
    public struct Welcome: Sendable, Equatable {
        public var messages: [ChatMessage]
        public var recovered: Bool?
        /// The window's generation when this is the whole window, as every joiner without
        /// `since` gets it: such welcomes of one room at one generation are the same event.
        public var window: UInt64?

        public init(messages: [ChatMessage], recovered: Bool?, window: UInt64? = nil) {
            self.messages = messages
            self.recovered = recovered
            self.window = window
        }
    }

    /// Messages a resume needs from before the window, read from the store before the member
    /// enters: every stored one up to `through` (the room's last number when last read).
    public struct OlderPart: Sendable, Equatable {
        public var messages: [ChatMessage] = []
        public var through: UInt64
        /// The store could not be read, or the gap is over the resume limit: not recovered.
        public var failed = false

        public init(messages: [ChatMessage] = [], through: UInt64, failed: Bool = false) {
            self.messages = messages
            self.through = through
            self.failed = failed
        }
    }

    /// A room as a resume sees it, at one moment.
    public struct Room: Sendable {
        /// The first number in the room's window, nil when the window is empty.
        public var windowFirst: UInt64?
        /// The room's last number that the store holds and the window has seen.
        public var lastStored: UInt64
        /// The last number delivered on this node (above `lastStored` on one node while the
        /// committer holds messages).
        public var delivered: UInt64
        /// The room has a store to read from.
        public var hasStore: Bool
        /// The store numbers messages (a cluster): a client may have seen numbers on another
        /// node that this one has not delivered yet.
        public var storeNumbersMessages: Bool

        public init(windowFirst: UInt64?, lastStored: UInt64, delivered: UInt64, hasStore: Bool, storeNumbersMessages: Bool) {
            self.windowFirst = windowFirst
            self.lastStored = lastStored
            self.delivered = delivered
            self.hasStore = hasStore
            self.storeNumbersMessages = storeNumbersMessages
        }
    }

    /// Where the store must be read from (after that number) before a member resuming from
    /// `since` can enter, or nil when it can enter now: the window, with what was read
    /// already, reaches back far enough; or the gap is over `limit` or a read failed (the
    /// member is then told `recovered: false`). In a cluster the first read also catches up
    /// with numbers the client saw elsewhere.
    public static func readNeeded(since: UInt64, older: OlderPart?, limit: Int, room: Room) -> UInt64? {
        guard room.hasStore, older?.failed != true else { return nil }
        if older == nil, room.storeNumbersMessages, since > room.delivered { return since }
        let known = older?.through ?? since
        let last = room.lastStored
        guard known < last, since < last, last - since <= UInt64(clamping: limit) else { return nil }
        return (room.windowFirst ?? .max) > known + 1 ? known : nil
    }

    /// The next read of the older part: the stored messages after `after`, up to the room's
    /// last stored number now.
    public enum Read: Sendable, Equatable {
        /// Nothing to read (the part already reaches `lastStored`, or the gap is over the
        /// limit): this is the part.
        case done(OlderPart)
        /// Read `count` messages after `after`, then call `adding`.
        case read(after: UInt64, count: Int)
    }

    public static func nextRead(older: OlderPart?, after: UInt64, lastStored: UInt64, since: UInt64, limit: Int) -> Read {
        var part = older ?? OlderPart(through: after)
        guard after < lastStored else {
            part.through = max(part.through, lastStored)
            return .done(part)
        }
        guard lastStored - min(since, lastStored) <= UInt64(clamping: limit), let count = Int(exactly: lastStored - after) else {
            part.failed = true
            return .done(part)
        }
        return .read(after: after, count: count)
    }

    /// `older` (or a new part from `after`) with what a read returned: `rows`, nil when the
    /// read failed; `through` is the `lastStored` the read was planned with.
    public static func adding(_ rows: [ChatMessage]?, to older: OlderPart?, after: UInt64, through: UInt64) -> OlderPart {
        var part = older ?? OlderPart(through: after)
        guard let rows else {
            part.failed = true
            return part
        }
        part.messages += rows
        part.through = through
        return part
    }

    /// True when nothing between `since` and the first of `entries` is missing but messages
    /// whose deletions are among them (a deletion is an entry of the log, so the client is
    /// told). A hole expiry or an erasure left is not explained: not recovered.
    static func startsRight(_ entries: [ChatMessage], since: UInt64) -> Bool {
        guard let first = entries.first?.seq, first > since else { return false }
        let missing = first - since - 1
        guard missing > 0 else { return true }
        let deleted = Set(entries.lazy.filter(\.deletion).compactMap { $0.editOf?.seq })
        guard missing <= UInt64(deleted.count) else { return false }
        return (since + 1..<first).allSatisfy { deleted.contains($0) }
    }

    /// The messages after `since`: from the window when it reaches back far enough, else with
    /// the older part read from the store (history is immutable but for deletes, so reading
    /// it before the window's snapshot is safe, as long as nothing between the two went
    /// unread). Exact or nothing: a hole means `recovered: false` and the window.
    public static func welcome(since: UInt64, window: [ChatMessage], lastSeq: UInt64, older: OlderPart?) -> Welcome {
        if since > lastSeq { return Welcome(messages: window, recovered: false) }  // a sequence this room never had
        if since == lastSeq { return Welcome(messages: [], recovered: true) }
        if let first = window.first, first.seq <= since + 1 {
            return Welcome(messages: window.filter { $0.seq > since }, recovered: true)
        }
        // More arrived after the read than the window holds: a stretch nobody read.
        guard let older, !older.failed, (window.first?.seq ?? lastSeq + 1) <= older.through + 1 else {
            return Welcome(messages: window, recovered: false)
        }
        let upTo = window.first?.seq ?? (lastSeq + 1)
        let merged = older.messages.filter { $0.seq < upTo } + window
        return Welcome(messages: merged, recovered: startsRight(merged, since: since))
    }
}
