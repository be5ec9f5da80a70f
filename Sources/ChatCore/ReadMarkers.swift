import Foundation

/// Read markers: how far an identity (an author key: the credential's user, and for shared
/// plain tokens also the guest name) has read each room, and how many messages it has not.
/// A position only moves forward; every connection of the identity, on every node, is told
/// when it does, so that several tabs and devices agree.
public enum ReadMarkers {
    /// Unread messages are counted up to this many: beyond it a client shows "1000+", and a
    /// welcome into a room with a long history costs a bounded read, not a scan of the room.
    public static let unreadCap = 1000

    /// The most rooms with markers, besides the connection's own, that `rooms` answers with:
    /// each costs a bounded count, and the answer must fit a frame.
    public static let otherRoomsListed = 100

    /// The position to store for a `read` of `seq` in a room whose stored messages end at
    /// `lastStored`: a client cannot have read what the room does not have yet, and a number
    /// beyond it would mark the room's next messages read before they are sent.
    public static func position(_ seq: UInt64, lastStored: UInt64) -> UInt64 {
        min(seq, lastStored)
    }
}

/// One room as an identity has read it.
public struct ReadState: Sendable, Equatable {
    public var room: String
    /// The last number read; 0: never.
    public var readSeq: UInt64
    /// Messages (not edits, not the reader's own) after `readSeq`, up to `lastSeq`; at most
    /// `ReadMarkers.unreadCap`.
    public var unread: Int
    /// There are more than `ReadMarkers.unreadCap`.
    public var capped: Bool
    /// The count's end, for a room the connection is in: later messages reach it live, and a
    /// client adds those it did not send. Nil for another room (counted to its end).
    public var lastSeq: UInt64?
    /// The connection is in the room (`rooms` also lists others the identity has read).
    public var joined: Bool

    public init(room: String, readSeq: UInt64, unread: Int, capped: Bool, lastSeq: UInt64?, joined: Bool = true) {
        self.room = room
        self.readSeq = readSeq
        self.unread = unread
        self.capped = capped
        self.lastSeq = lastSeq
        self.joined = joined
    }

    /// A state from a count made with `LIMIT unreadCap + 1`.
    public init(room: String, readSeq: UInt64, counted: Int, lastSeq: UInt64?, joined: Bool = true) {
        self.init(
            room: room, readSeq: readSeq, unread: min(counted, ReadMarkers.unreadCap), capped: counted > ReadMarkers.unreadCap,
            lastSeq: lastSeq, joined: joined)
    }

    func write(to w: inout JSONWriter) {
        w.field("room", room)
        w.field("readSeq", readSeq)
        w.field("unread", unread)
        if capped { w.field("unreadCapped", true) }
        if let lastSeq { w.field("lastSeq", lastSeq) }
    }
}

/// The events of read markers (`ServerEvent.reads`).
public enum ReadEvent: Sendable, Equatable {
    /// The identity's position in `room` is now `seq`: the answer to its `read`, and news to
    /// its other connections.
    case read(room: String, seq: UInt64)
    /// Right after a room's welcome `history`: kept apart from it because that one is encoded
    /// once for every joiner of the window (`WelcomeCache`), and this is the identity's own.
    case unread(ReadState)
    /// The answer to `rooms`.
    case rooms([ReadState])

    func write(to w: inout JSONWriter) {
        switch self {
        case let .read(room, seq):
            w.field("type", "read")
            w.field("room", room)
            w.field("seq", seq)
        case let .unread(state):
            w.field("type", "unread")
            state.write(to: &w)
        case let .rooms(states):
            w.field("type", "rooms")
            w.key("rooms")
            w.beginArray()
            for state in states {
                w.beginObject()
                state.write(to: &w)
                w.field("joined", state.joined)
                w.endObject()
            }
            w.endArray()
        }
    }
}

/// A connection's writes of read positions: at most one per room in flight; reads that come
/// meanwhile are merged into the next (only the highest matters), so a client cannot make
/// chatd write faster than the store takes them. Lives on the connection's loop.
public struct ReadWrites: Sendable {
    private var writing: Set<String> = []
    private var next: [String: UInt64] = [:]

    public init() {}

    /// A read of `room` up to `seq`: the position to write now, or nil when a write of the
    /// room is in flight (this one follows it).
    public mutating func requested(room: String, seq: UInt64) -> UInt64? {
        guard writing.contains(room) else {
            writing.insert(room)
            return seq
        }
        next[room] = max(next[room] ?? 0, seq)
        return nil
    }

    /// The write of `room` is over and the position stored is `stored` (nil: it failed): the
    /// position to write next, if a later read asked for more.
    public mutating func written(room: String, stored: UInt64?) -> UInt64? {
        if let wanted = next.removeValue(forKey: room), wanted > (stored ?? 0) { return wanted }
        writing.remove(room)
        return nil
    }

    public var inFlight: Int { writing.count }
}

extension ClientCommand {
    /// `{"type":"read","room","seq"}` (`seq` a positive integer, as for `delete`) and
    /// `{"type":"rooms"}`.
    static func decodeReadMarker(type: String, _ event: RequestObject, room: String?) -> Result<ClientCommand, ErrorCode> {
        guard type == "read" else { return .success(.rooms) }
        guard let seq = event["seq"]?.unsigned, seq > 0 else { return .failure(.badField) }
        return .success(.read(seq: seq, room: room))
    }
}

extension CommandPlan {
    /// A read needs the room joined and readable, as a `history` does.
    static func planReadMarker(_ command: ClientCommand, for session: Session) -> CommandPlan {
        guard case let .read(seq, named) = command else { return .rooms }
        switch session.readableRoom(named) {
        case let .success(room): return .read(room: room, seq: seq)
        case let .failure(code): return .refuse(code)
        }
    }
}
