/// A join and a resume as decisions on the room's state: enter now, read the store first, or
/// refuse. The hub takes them under the room's lock and carries out what they return (the
/// presence broadcast, the store read, the hop back to the member's loop); the edges (a room
/// filling while a resume reads, a read that must be repeated because more arrived) are
/// tested here without a lock, a store or a socket.
extension RoomState {
    /// Where a room's history is kept, which decides what a resume may read.
    public enum Storage: Sendable, Equatable {
        /// No store: the window is all there is.
        case none
        /// One node's store; this node numbers the messages (SQLite).
        case numberedHere
        /// A shared store that numbers the messages when it commits them (a cluster).
        case numberedByStore

        var hasStore: Bool { self != .none }
        var storeNumbersMessages: Bool { self == .numberedByStore }
    }

    /// The last number the store holds and the window has seen: in a cluster the last
    /// delivered here; on one node the last committed (later ones are still in the
    /// committer, and reach a new member live).
    public func storedSeq(_ storage: Storage) -> UInt64 {
        storage == .numberedHere ? committed : seq
    }

    /// The room as a resume sees it now.
    public func resumeView(_ storage: Storage) -> ResumePlan.Room {
        ResumePlan.Room(
            windowFirst: history.resumableFirst?.seq, lastStored: storedSeq(storage), delivered: seq,
            hasStore: storage.hasStore, storeNumbersMessages: storage.storeNumbersMessages)
    }

    /// The next step of a resume from `since`, with `older` read so far.
    public enum ResumeStep: Sendable, Equatable {
        /// Read the stored messages after this number (`ResumePlan.nextRead`), then ask again.
        case read(after: UInt64)
        /// Nothing more to read: send this.
        case welcome(ResumePlan.Welcome)
    }

    public func resume(since: UInt64, older: ResumePlan.OlderPart?, limit: Int, storage: Storage) -> ResumeStep {
        if let after = ResumePlan.readNeeded(since: since, older: older, limit: limit, room: resumeView(storage)) {
            return .read(after: after)
        }
        return .welcome(ResumePlan.welcome(since: since, window: history.resumable, lastSeq: storedSeq(storage), older: older))
    }

    /// A member on its way in (`startEntering`), joining on loop `shard`.
    public struct Joining: Sendable, Equatable {
        public var shard: Int
        public var maxMembers: Int
        /// A resume: the last number the member has.
        public var since: UInt64?
        public var resumeLimit: Int
        /// What was read from the store for the resume so far.
        public var older: ResumePlan.OlderPart?

        public init(shard: Int, maxMembers: Int, since: UInt64?, resumeLimit: Int, older: ResumePlan.OlderPart? = nil) {
            self.shard = shard
            self.maxMembers = maxMembers
            self.since = since
            self.resumeLimit = resumeLimit
            self.older = older
        }
    }

    public enum JoinStep: Sendable, Equatable {
        /// The room holds `maxMembers` already: refused, no longer on its way in.
        case full
        /// Read the store after this number first (`ResumePlan.nextRead`); still on its way in,
        /// so the room is not let go meanwhile. Then call `join` again with what was read.
        case read(after: UInt64)
        /// In. Deliveries with an epoch after `joinEpoch` reach it (earlier ones are in
        /// `welcome`); the caller broadcasts its presence to `localMembers` + remote.
        case entered(joinEpoch: UInt64, localMembers: Int, welcome: ResumePlan.Welcome)
    }

    public mutating func join(_ joining: Joining, storage: Storage) -> JoinStep {
        if isFull(maxMembers: joining.maxMembers) {
            abandonEntering()
            return .full
        }
        var welcome = ResumePlan.Welcome(messages: history.messages, recovered: nil, window: history.generation)
        if let since = joining.since {
            switch resume(since: since, older: joining.older, limit: joining.resumeLimit, storage: storage) {
            case let .read(after): return .read(after: after)
            case let .welcome(planned): welcome = planned
            }
        }
        guard case let .entered(joinEpoch, localMembers) = enter(shard: joining.shard, maxMembers: joining.maxMembers) else {
            return .full
        }
        return .entered(joinEpoch: joinEpoch, localMembers: localMembers, welcome: welcome)
    }
}
