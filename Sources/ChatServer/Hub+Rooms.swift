import ChatCore
import NIOConcurrencyHelpers
import NIOCore

/// Which rooms this node holds: loading a room on its first use (only its joiners and
/// senders wait), and letting idle rooms go.
extension Hub {
    /// The room called `name` if this node holds it now (members, or commits in flight).
    func existingRoom(_ name: String) -> Room? {
        rooms.withLockedValue { $0[name] }
    }

    /// A room being read from the store: who waits for it, and what other nodes said of it
    /// meanwhile (their notifications find no room to deliver to yet).
    struct RoomLoad {
        var waiters: [@Sendable (Result<Room, RoomRefusal>) -> Void]
        var heard: [ChatMessage] = []
        var heardThrough: UInt64 = 0
        /// Deleted and expired meanwhile: the window read may still hold them.
        var deleted: Set<UInt64> = []
        var expiredThrough: UInt64 = 0
    }

    /// The room called `name` if this node holds it; if it is being loaded, `note` records
    /// what happened to it meanwhile, for the load to apply.
    func heldRoom(_ name: String, orNote note: (inout RoomLoad) -> Void) -> Room? {
        rooms.withLockedValue { rooms in
            if let room = rooms[name] { return room }
            loading.withLockedValue { loading in
                guard var load = loading[name] else { return }
                note(&load)
                loading[name] = load
            }
            return nil
        }
    }

    /// Hands `body` the room called `name`: at once when this node holds it, else once it
    /// is loaded from the store (rooms are let go when idle). Only the callers of that room
    /// wait for the store; `body` then runs on the loading task, not the caller's thread.
    /// A new room is refused when this node holds `maxRooms` rooms.
    func withRoom(
        _ name: String, historyWindow: Int, maxRooms: Int = .max,
        _ body: @escaping @Sendable (Result<Room, RoomRefusal>) -> Void
    ) {
        enum Found {
            case held(Room)
            case waiting, load, full
        }
        let found: Found = rooms.withLockedValue { rooms in
            if let room = rooms[name] {
                idle.withLockedValue { $0.remove(name) }
                return .held(room)
            }
            if loading.withLockedValue({ $0[name]?.waiters.append(body) }) != nil { return .waiting }
            let loads = loading.withLockedValue { $0.count }
            if rooms.count + loads >= maxRooms { letGo(idleRooms: rooms.count + loads - maxRooms + 1, from: &rooms) }
            guard rooms.count + loads < maxRooms else { return .full }
            guard store != nil else {
                let room = Room(name: name, historyWindow: historyWindow, shardCount: shards.count)
                rooms[name] = room
                return .held(room)
            }
            loading.withLockedValue { $0[name] = RoomLoad(waiters: [body]) }
            return .load
        }
        switch found {
        case let .held(room): body(.success(room))
        case .full: body(.failure(.full))
        case .waiting: break
        case .load: Task { await load(name, historyWindow: historyWindow) }
        }
    }

    /// Reads a room's last number and window from the store, then hands it to its waiters.
    private func load(_ name: String, historyWindow: Int) async {
        guard let store else { return }
        var lastSeq: UInt64 = 0
        var synced = true
        var refusal: RoomRefusal?
        do {
            lastSeq = try await store.lastSequence(room: name) ?? 0
        } catch {
            if storeNumbersMessages {
                // The database is down: the room starts from the first number it hears of.
                synced = false
            } else {
                // This node numbers its messages: a wrong start would reuse numbers.
                refusal = .unavailable
            }
        }
        let room = Room(name: name, historyWindow: historyWindow, shardCount: shards.count, lastSeq: lastSeq)
        room.state.synced = synced
        if refusal == nil, lastSeq > 0, let recent = try? await store.recent(room: name, limit: historyWindow) {
            for message in recent { room.state.history.append(message) }
            // Past the newest entries (`ChatStore.recent`) only messages were read: resumes
            // from before them read the store.
            let entries = HistoryWindow.entryLimit(messages: historyWindow)
            if recent.count > entries { room.state.history.covered(from: recent[recent.count - entries].seq) }
        }
        let result: Result<Room, RoomRefusal> = refusal.map { .failure($0) } ?? .success(room)
        var heard: (messages: [ChatMessage], through: UInt64) = ([], 0)
        // Waiters are served in the order they came, and the room is made visible only once
        // none is left: a caller that finds it held must not overtake an earlier one (a
        // sender's second message its first).
        while true {
            let waiters = rooms.withLockedValue { rooms -> [@Sendable (Result<Room, RoomRefusal>) -> Void] in
                loading.withLockedValue { loading in
                    guard var load = loading[name] else { return [] }
                    heard = (heard.messages + load.heard, max(heard.through, load.heardThrough))
                    (load.heard, load.heardThrough) = ([], 0)
                    if !load.deleted.isEmpty || load.expiredThrough > 0 {
                        let (deleted, expired) = (load.deleted, load.expiredThrough)
                        room.lock.withLock { room.state.history.remove { deleted.contains($0.seq) || $0.seq <= expired } }
                        (load.deleted, load.expiredThrough) = ([], 0)
                    }
                    let waiters = load.waiters
                    load.waiters = []
                    if waiters.isEmpty {
                        loading[name] = nil
                        if refusal == nil {
                            let remote = remotePresence.withLockedValue { $0[name]?.values.reduce(0, +) ?? 0 }
                            room.lock.withLock { _ = room.state.remoteMembers(remote) }
                            rooms[name] = room
                        }
                    } else {
                        loading[name] = load
                    }
                    return waiters
                }
            }
            if waiters.isEmpty { break }
            for waiter in waiters { waiter(result) }
        }
        // Its joiners may all have left (or been refused) before it became visible.
        if refusal == nil { retireIfIdle(room) }
        if refusal == nil, heard.through > 0 {
            // Committed elsewhere while this node read: delivered (or passed over) in order.
            let (messages, through) = heard
            committer.withLockedValue { $0 }?.async { [self] in
                await deliverInOrder(room, messages, through: through)
            }
        }
    }

    /// Notes a room that may have become idle — no members here or elsewhere, no commit in
    /// flight. The newest `idleRoomsKept` idle rooms stay (a room published to without
    /// members, or left and joined again, is not read from the store each time); older ones
    /// are let go, so that memory follows the rooms in use, not every name ever joined.
    func retireIfIdle(_ room: Room) {
        rooms.withLockedValue { rooms in
            let isIdle = room.lock.withLock { !room.retired && room.state.isIdle }
            guard isIdle, rooms[room.name] === room else { return }
            let over = idle.withLockedValue { idle in
                idle.add(room.name)
                return idle.count - idleRoomsKept.load(ordering: .relaxed)
            }
            // A quarter more than needed, so the oldest are sought once per many rooms.
            if over > 0 { letGo(idleRooms: over + idleRoomsKept.load(ordering: .relaxed) / 4, from: &rooms) }
        }
    }

    /// Lets the `count` oldest idle rooms go (fewer if fewer are idle). Call under the
    /// `rooms` lock. Whoever still holds one sees `retired` under its lock and asks again.
    private func letGo(idleRooms count: Int, from rooms: inout [String: Room]) {
        for name in idle.withLockedValue({ $0.takeOldest(count) }) {
            guard let room = rooms[name] else { continue }
            room.lock.withLock {
                guard !room.retired, room.state.isIdle else { return }  // in use again
                room.retired = true
                rooms[name] = nil
            }
        }
    }
}

/// One room's shared state. Its fields are guarded by `lock`. A room is held while it has
/// members (here or on other nodes) or commits in flight, then let go (`Hub.retireIfIdle`)
/// and loaded from the store again when next used.
final class Room: @unchecked Sendable {
    let name: String
    let lock = NIOLock()
    /// Numbering, window, epoch and members (`RoomState`, in ChatCore). Guarded by `lock`.
    var state: RoomState
    /// Set when the hub let the room go: a holder of a stale reference must ask again.
    /// Guarded by `lock`.
    var retired = false
    /// Joins and leaves gathered while the room is big (`PresenceBatch`). Guarded by `lock`.
    var presence = PresenceBatch()
    /// The encoded welcome of joiners without `since`. Guarded by `lock`.
    var welcome = WelcomeCache()
    /// Messages with a nonce between their duplicate check and their commit. Guarded by `lock`.
    var nonces = MessageNonce.Ledger<@Sendable (Result<ChatMessage, any Error>) -> Void>()
    /// The last `members` answer, when it was made (uptime ns) and after how many of the
    /// room's joins and leaves (`RoomState.memberChanges`). Guarded by `lock`.
    var memberList: (at: UInt64, after: UInt64, list: MemberList)?

    init(name: String, historyWindow: Int, shardCount: Int, lastSeq: UInt64 = 0) {
        self.name = name
        self.state = RoomState(historyWindow: historyWindow, shardCount: shardCount, lastSeq: lastSeq)
    }
}

/// The names of idle rooms in the order they became idle.
struct IdleRooms {
    private var since: [String: UInt64] = [:]
    private var tick: UInt64 = 0

    var count: Int { since.count }

    mutating func add(_ name: String) {
        tick += 1
        since[name] = tick
    }

    mutating func remove(_ name: String) {
        since[name] = nil
    }

    /// The `count` names idle longest, taken out.
    mutating func takeOldest(_ count: Int) -> [String] {
        guard count > 0 else { return [] }
        let names = since.sorted { $0.value < $1.value }.prefix(count).map(\.key)
        for name in names { since[name] = nil }
        return names
    }
}
