/// One room on this node, as state and decisions without I/O or locks: its numbering, the
/// window of recent messages, the broadcast epoch, and who is in it. The hub keeps one per
/// room it holds, under that room's lock, and carries out what the operations return
/// (encoding, deliveries to loops, telling other nodes).
public struct RoomState: Sendable {
    /// The last number given out (one node: ahead of `committed` by what the committer
    /// holds) or delivered here (a cluster: the database numbers).
    public private(set) var seq: UInt64
    /// One node: the last number committed and broadcast. What a resume may read from the
    /// store goes up to here.
    public private(set) var committed: UInt64
    /// Counts broadcasts (messages and presence) so that a joining member can tell which
    /// queued deliveries predate it.
    public private(set) var epoch: UInt64 = 0
    /// False for a shared room whose last number could not be read when it was made here
    /// (the database was down): cluster sequencing then starts from what it is given.
    public var synced = true
    /// Messages handed to the committer and not yet settled.
    public private(set) var pending = 0
    /// Joins handed this room and not yet entered (they hop to their loop first).
    public private(set) var entering = 0
    /// Members on this node, in all and per event loop (deliveries go to loops with members).
    public private(set) var localMembers = 0
    /// Joins and leaves here so far: a list of who is here is current while this is unchanged.
    public private(set) var memberChanges: UInt64 = 0
    public private(set) var perShard: [Int]
    /// Members on other nodes, as their heartbeats and presence events tell.
    public private(set) var remoteMembers = 0
    public var history: HistoryWindow

    public init(historyWindow: Int, shardCount: Int, lastSeq: UInt64 = 0) {
        seq = lastSeq
        committed = lastSeq
        perShard = Array(repeating: 0, count: max(shardCount, 0))
        history = HistoryWindow(limit: historyWindow)
    }

    public var total: Int { localMembers + remoteMembers }
    /// Nobody in it, nothing on its way in or to the store: the hub may let it go.
    public var isIdle: Bool { localMembers == 0 && remoteMembers == 0 && pending == 0 && entering == 0 }

    // MARK: Messages

    /// One node numbers its messages: the next number.
    public mutating func numberNext() -> UInt64 {
        seq += 1
        return seq
    }

    public mutating func handedToCommitter() { pending += 1 }
    /// A message handed to the committer was stored or failed.
    public mutating func settled() { pending = max(pending - 1, 0) }

    /// A message is durable: into the window; the caller broadcasts it.
    public mutating func committed(_ message: ChatMessage) {
        committed = max(committed, message.seq)
        record(message)
    }

    /// Into the window: a message, or an edit, which also changes the message it edits
    /// (the window is what joiners are sent, so it shows the current text; the edit stays
    /// in it for resumes from before it).
    private mutating func record(_ entry: ChatMessage) {
        if let target = entry.editOf {
            if entry.deletion {
                // The message and its changes go; the deletion stays, for resumes.
                history.remove { $0.seq == target.seq || $0.editOf?.seq == target.seq }
            } else {
                history.update(message: target.seq) { $0.applying(entry) }
            }
        }
        history.append(entry)
    }

    /// A cluster message in sequence order (`InOrderDelivery`): into the window, unless it
    /// is not newer than what was delivered here; true when the caller is to broadcast it.
    public mutating func deliveredInOrder(_ message: ChatMessage) -> Bool {
        guard message.seq > seq else { return false }
        seq = message.seq
        record(message)
        return true
    }

    /// Cluster sequencing delivered everything up to `through` (`InOrderDelivery`).
    public mutating func delivered(through: UInt64, synced: Bool) {
        seq = max(seq, through)
        self.synced = synced
    }

    /// The next broadcast's epoch.
    public mutating func nextEpoch() -> UInt64 {
        epoch += 1
        return epoch
    }

    // MARK: Members

    public mutating func startEntering() { entering += 1 }

    public enum Entry: Sendable, Equatable {
        /// In: deliveries with an epoch after `joinEpoch` reach it; `localMembers` counts it.
        case entered(joinEpoch: UInt64, localMembers: Int)
        /// The room holds `maxMembers` already.
        case full
    }

    public func isFull(maxMembers: Int) -> Bool { maxMembers > 0 && total >= maxMembers }

    /// A member on its way in enters on loop `shard`, unless the room is full.
    public mutating func enter(shard: Int, maxMembers: Int) -> Entry {
        entering = max(entering - 1, 0)
        if isFull(maxMembers: maxMembers) { return .full }
        if perShard.indices.contains(shard) { perShard[shard] += 1 }
        localMembers += 1
        memberChanges &+= 1
        return .entered(joinEpoch: epoch, localMembers: localMembers)
    }

    /// A member on its way in will not enter (the room was let go first, or is full).
    public mutating func abandonEntering() {
        entering = max(entering - 1, 0)
    }

    /// A member on loop `shard` left; returns the members left on this node.
    public mutating func leave(shard: Int) -> Int {
        if perShard.indices.contains(shard) { perShard[shard] = max(perShard[shard] - 1, 0) }
        localMembers = max(localMembers - 1, 0)
        memberChanges &+= 1
        return localMembers
    }

    /// Other nodes now count `total` members; false when that changes nothing.
    public mutating func remoteMembers(_ total: Int) -> Bool {
        guard remoteMembers != total else { return false }
        remoteMembers = max(total, 0)
        return true
    }
}
