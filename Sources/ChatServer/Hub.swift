import ChatCluster
import ChatControl
import ChatCore
import ChatStore
import Logging
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Rooms across event loops. Membership lives in one `LoopShard` per event loop; the hub
/// keeps, per room, the sequence, the history window and how many members each loop has.
/// A broadcast takes the room's lock once, encodes its frame once, and enqueues one task
/// per event loop that has members: one hop per loop, never one per member. Enqueueing
/// under the room lock keeps every loop's copy of a room in the same order.
final class Hub: Sendable {
    struct ShardRef: Sendable {
        let loop: any EventLoop
        let shard: NIOLoopBoundBox<LoopShard>
    }

    let shards: [ShardRef]
    let rooms = NIOLockedValueBox<[String: Room]>([:])
    private let allocator = ByteBufferAllocator()
    /// Open WebSocket connections (chat and echo), for /healthz.
    let connections = Atomic<Int>(0)
    let messagesIn = Atomic<Int>(0)
    let framesOut = Atomic<Int>(0)
    let metrics: ChatMetrics
    /// The durable store, when there is one; messages are committed before broadcast.
    let store: (any ChatStore)?
    let committer: NIOLockedValueBox<Committer?> = NIOLockedValueBox(nil)
    /// Rooms held while idle, oldest first out; changed only under the `rooms` lock.
    private let idle = NIOLockedValueBox(IdleRooms())
    /// Rooms being read from the store; changed only under the `rooms` lock.
    let loading = NIOLockedValueBox<[String: RoomLoad]>([:])
    /// How many idle rooms are held for reuse before the oldest are let go.
    let idleRoomsKept = Atomic<Int>(256)
    /// True when the store numbers messages (PostgreSQL, several nodes): a room's `seq` is
    /// then the last one delivered here, advanced in order by `deliverInOrder`.
    let shared: Bool
    /// The other nodes, in a cluster (set once at start).
    let cluster = NIOLockedValueBox<ClusterBus?>(nil)
    /// Members on other nodes: room → node → count.
    let remotePresence = NIOLockedValueBox<[String: [String: Int]]>([:])

    init(loops: [any EventLoop], metrics: ChatMetrics, store: (any ChatStore)? = nil) throws {
        self.metrics = metrics
        self.store = store
        shared = store?.assignsSequences ?? false
        shards = loops.map { loop in
            ShardRef(loop: loop, shard: NIOLoopBoundBox.makeBoxSendingValue(LoopShard(loop: loop), eventLoop: loop))
        }
        if let store {
            let logger = Logger(label: "chatd.store")
            committer.withLockedValue {
                $0 = Committer(store: store,
                               committed: { [weak self] batch in
                                   await self?.broadcastCommitted(batch)
                                   self?.settle(batch)
                               },
                               failed: { [weak self] batch, error in
                                   logger.error("history commit failed; \(batch.count) messages not sent: \(error)")
                                   metrics.errors("store_failed").increment(by: Int64(batch.count))
                                   self?.settle(batch)
                               })
            }
        }
    }

    /// The shard index of `loop`; the loops are few, so a scan is cheapest.
    func shardIndex(of loop: any EventLoop) -> Int {
        shards.firstIndex { $0.loop === loop } ?? 0
    }

    /// The pacer of `loop` (call on it); nil for a loop the hub has no shard for.
    func pacer(of loop: any EventLoop) -> LoopPacer? {
        shards.first { $0.loop === loop }?.shard.value.pacer
    }

    /// Why a room could not be had.
    enum RoomRefusal: Error {
        /// This node holds `limits.max_rooms` rooms already.
        case full
        /// Its last number could not be read from the store (one node: SQLite failing).
        case unavailable
    }

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
    func withRoom(_ name: String, historyWindow: Int, maxRooms: Int = .max,
                  _ body: @escaping @Sendable (Result<Room, RoomRefusal>) -> Void) {
        enum Found { case held(Room), waiting, load, full }
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
        let room = Room(name: name, historyWindow: historyWindow, shardCount: shards.count)
        var refusal: RoomRefusal?
        do {
            room.seq = try await store.lastSequence(room: name) ?? 0
        } catch {
            if shared {
                // The database is down: the room starts from the first number it hears of.
                room.synced = false
            } else {
                // This node numbers its messages: a wrong start would reuse numbers.
                refusal = .unavailable
            }
        }
        room.committed = room.seq
        if refusal == nil, room.seq > 0, let recent = try? await store.recent(room: name, limit: historyWindow) {
            for message in recent { room.history.append(message) }
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
                        room.lock.withLock { room.history.remove { deleted.contains($0.seq) || $0.seq <= expired } }
                        (load.deleted, load.expiredThrough) = ([], 0)
                    }
                    let waiters = load.waiters
                    load.waiters = []
                    if waiters.isEmpty {
                        loading[name] = nil
                        if refusal == nil {
                            room.lock.withLock {
                                room.remoteOnline = remotePresence.withLockedValue { $0[name]?.values.reduce(0, +) ?? 0 }
                            }
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
            let isIdle = room.lock.withLock { !room.retired && room.isIdle }
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
                guard !room.retired, room.isIdle else { return }  // in use again
                room.retired = true
                rooms[name] = nil
            }
        }
    }

    /// A batch's commits are over (stored or not): its rooms may be idle now.
    private func settle(_ batch: [Committer.Entry]) {
        var touched: [ObjectIdentifier: Room] = [:]
        for entry in batch {
            entry.room.lock.withLock { entry.room.pending -= 1 }
            touched[ObjectIdentifier(entry.room)] = entry.room
        }
        for room in touched.values { retireIfIdle(room) }
    }

    /// What a joining session is sent first: the room's window, or for a resume (`since`)
    /// exactly the messages after `since`, with `recovered` telling whether that was possible.
    struct Welcome: Sendable {
        var messages: [ChatMessage]
        var recovered: Bool?
    }

    /// Messages a resume needs from before the window, read from the store before the member
    /// enters: every stored one up to `through` (the room's last number when last read).
    struct OlderPart: Sendable {
        var messages: [ChatMessage] = []
        var through: UInt64
        /// The store could not be read, or the gap is over the resume limit: not recovered.
        var failed = false
    }

    /// Adds a membership to its room unless the room is at `maxMembers` (0: no limit), or is
    /// new and this node holds `maxRooms`. `done` is told on the member's loop the history
    /// the member must be sent before anything else of the room, or why it may not join.
    /// A held room whose window covers the resume is joined before this returns; otherwise
    /// the store is read first, off the loop, and only this member waits for it.
    func join(_ member: Membership, shardIndex: Int, since: UInt64?, maxMembers: Int, maxRooms: Int = .max,
              historyWindow: Int, resumeLimit: Int, done: @escaping (Result<Welcome, ErrorCode>) -> Void) {
        join(member, JoinRequest(shardIndex: shardIndex, since: since, maxMembers: maxMembers, maxRooms: maxRooms,
                                 historyWindow: historyWindow, resumeLimit: resumeLimit), done: done)
    }

    struct JoinRequest: Sendable {
        var shardIndex: Int
        var since: UInt64?
        var maxMembers: Int
        var maxRooms: Int
        var historyWindow: Int
        var resumeLimit: Int
    }

    private func join(_ member: Membership, _ request: JoinRequest, done: @escaping (Result<Welcome, ErrorCode>) -> Void) {
        let loop = shards[request.shardIndex].loop
        let bound = NIOLoopBound((member: member, done: done), eventLoop: loop)
        withRoom(member.room, historyWindow: request.historyWindow, maxRooms: request.maxRooms) { [self] found in
            let onLoop: @Sendable (@escaping @Sendable () -> Void) -> Void = { body in
                if loop.inEventLoop { body() } else { loop.execute(body) }
            }
            switch found {
            case let .success(room):
                room.lock.withLock { room.entering += 1 }
                onLoop { self.enter(room, bound.value.member, request, older: nil, done: bound.value.done) }
            case let .failure(refusal):
                let code: ErrorCode = refusal == .full ? .serverFull : .unavailable
                onLoop { bound.value.done(.failure(code)) }
            }
        }
    }

    /// Joins a room this node holds, on the member's loop. Asks for the room again when it
    /// was let go before its lock was taken; reads the store first when a resume needs it.
    private func enter(_ room: Room, _ member: Membership, _ request: JoinRequest, older: OlderPart?,
                       done: @escaping (Result<Welcome, ErrorCode>) -> Void) {
        let name = member.session.name
        let shardIndex = request.shardIndex
        enum Entered { case retired, full, read(after: UInt64), entered([ChatMessage], UInt64, Int) }
        let entered: Entered = room.lock.withLock {
            room.entering -= 1
            if room.retired { return .retired }
            if request.maxMembers > 0 && room.total >= request.maxMembers { return .full }
            if let since = request.since, let after = storeGapLocked(room, since: since, older: older, limit: request.resumeLimit) {
                room.entering += 1  // still on its way in
                return .read(after: after)
            }
            room.perShard[shardIndex] += 1
            room.online += 1
            // Deliveries already queued for this loop carry older epochs and skip the newcomer:
            // it gets those messages from the history snapshot instead, exactly once.
            member.joinEpoch = room.epoch
            let snapshot = Entered.entered(room.history.messages, storedSeqLocked(room), room.online)
            broadcastLocked(room, event: .presence(room: room.name, message: "\(name) joined", online: room.total))
            return snapshot
        }
        let (window, lastSeq, local): ([ChatMessage], UInt64, Int)
        switch entered {
        case .retired:
            return join(member, request, done: done)
        case .full:
            retireIfIdle(room)
            return done(.failure(.roomFull))
        case let .read(after):
            // Read off the loop, then try again: what arrived meanwhile is read too, until the
            // window and what was read meet (or the store fails: not recovered).
            let loop = shards[shardIndex].loop
            let bound = NIOLoopBound((member: member, done: done), eventLoop: loop)
            Task {
                let part = await readPart(room, after: after, adding: older, since: request.since ?? 0, limit: request.resumeLimit)
                loop.execute { self.enter(room, bound.value.member, request, older: part, done: bound.value.done) }
            }
            return
        case let .entered(w, s, l): (window, lastSeq, local) = (w, s, l)
        }
        tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) joined"))
        member.entered = room
        shards[shardIndex].shard.value.add(member)
        guard let since = request.since else { return done(.success(Welcome(messages: window, recovered: nil))) }
        done(.success(Self.resume(since: since, window: window, lastSeq: lastSeq, older: older)))
    }

    /// Where a resume from `since` must read the store from, or nil when the window (with
    /// what was read already) reaches back far enough, or the gap is over `limit`. In a
    /// cluster the client may also have seen numbers this node has not delivered yet: the
    /// first read then catches up. Call under the room's lock.
    private func storeGapLocked(_ room: Room, since: UInt64, older: OlderPart?, limit: Int) -> UInt64? {
        guard store != nil, older?.failed != true else { return nil }
        if older == nil, shared, since > room.seq { return since }
        let known = older?.through ?? since
        let last = storedSeqLocked(room)
        guard known < last, since < last, last - since <= UInt64(clamping: limit) else { return nil }
        return (room.history.first?.seq ?? .max) > known + 1 ? known : nil
    }

    /// The last number of a room that the store holds and the window has seen: in a cluster
    /// the last delivered here; on one node the last committed (later ones are still in the
    /// committer, and reach a new member live).
    private func storedSeqLocked(_ room: Room) -> UInt64 {
        shared || store == nil ? room.seq : room.committed
    }

    /// `older` with the stored messages after `after` added, up to the room's last number now.
    private func readPart(_ room: Room, after: UInt64, adding older: OlderPart?, since: UInt64, limit: Int) async -> OlderPart {
        if older == nil { await catchUpIfBehind(room, since: since) }
        var part = older ?? OlderPart(through: after)
        let lastSeq = room.lock.withLock { storedSeqLocked(room) }
        guard after < lastSeq else {
            part.through = max(part.through, lastSeq)
            return part
        }
        guard let store, lastSeq - min(since, lastSeq) <= UInt64(clamping: limit),
              let rows = try? await store.messages(room: room.name, after: after, limit: Int(lastSeq - after))
        else {
            part.failed = true
            return part
        }
        part.messages += rows
        part.through = lastSeq
        return part
    }

    /// The messages after `since`: from the window when it reaches back far enough, else with
    /// the older part read from the store (it is immutable, so reading it before the window's
    /// snapshot is safe, as long as nothing between the two went unread).
    static func resume(since: UInt64, window: [ChatMessage], lastSeq: UInt64, older: OlderPart?) -> Welcome {
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
        // Exact or nothing: a hole (a message deleted meanwhile is a known hole) means not recovered.
        return Welcome(messages: merged, recovered: merged.first.map { $0.seq == since + 1 } ?? false)
    }

    /// A resume on request (`history` with `since`), for a connection already in the room.
    func catchUp(in room: Room, since: UInt64, limit: Int) async -> Welcome {
        var older: OlderPart?
        while true {
            let (after, window, lastSeq) = room.lock.withLock {
                (storeGapLocked(room, since: since, older: older, limit: limit), room.history.messages, storedSeqLocked(room))
            }
            guard let after else { return Self.resume(since: since, window: window, lastSeq: lastSeq, older: older) }
            older = await readPart(room, after: after, adding: older, since: since, limit: limit)
        }
    }

    /// Older messages on request (`history` with `before`).
    func older(room: String, before: UInt64, limit: Int) async -> [ChatMessage] {
        guard let store else {
            guard let room = existingRoom(room) else { return [] }
            return room.lock.withLock { Array(room.history.messages.filter { $0.seq < before }.suffix(limit)) }
        }
        return (try? await store.messages(room: room, before: before, limit: limit)) ?? []
    }

    /// Removes a membership from its room and tells the others. Runs on the session's loop.
    func leave(_ member: Membership, shardIndex: Int) {
        shards[shardIndex].shard.value.remove(member)
        guard let room = member.entered else { return }
        member.entered = nil
        let name = member.session.name
        let local = room.lock.withLock {
            room.perShard[shardIndex] -= 1
            room.online -= 1
            broadcastLocked(room, event: .presence(room: room.name, message: "\(name) left", online: room.total))
            return room.online
        }
        tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) left"))
        if local == 0 { retireIfIdle(room) }
    }

    /// Appends a message to its room's history and sends it to every member, sender included.
    /// With a store, `done` is told on the store queue whether it was committed (and with
    /// which number, which a shared store gives out only then).
    func publish(room name: String, from: String, text: String, author: String = "", data: String? = nil,
                 historyWindow: Int, maxRooms: Int = .max, done: (@Sendable (Result<ChatMessage, any Error>) -> Void)? = nil) {
        let id = UUID().uuidString.lowercased()
        let sentAt = Timestamp.iso8601(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        messagesIn.add(1, ordering: .relaxed)
        metrics.messagesReceived.increment()
        let draft = ChatMessage(id: id, seq: 0, room: name, from: from, text: text, sentAt: sentAt, author: author, data: data)
        publish(draft, historyWindow: historyWindow, maxRooms: maxRooms, done: done)
    }

    private func publish(_ draft: ChatMessage, historyWindow: Int, maxRooms: Int,
                         done: (@Sendable (Result<ChatMessage, any Error>) -> Void)?) {
        withRoom(draft.room, historyWindow: historyWindow, maxRooms: maxRooms) { [self] found in
            let room: Room
            switch found {
            case let .success(held): room = held
            case let .failure(refusal): return done?(.failure(refusal)) ?? ()
            }
            let committer = self.committer.withLockedValue { $0 }
            let message: ChatMessage? = room.lock.withLock {
                if room.retired { return nil }
                var message = draft
                // A shared store numbers the message when it commits it.
                if !shared {
                    room.seq += 1
                    message.seq = room.seq
                }
                if let committer {
                    // Handed over under the room lock: the store queue sees each room in order.
                    // The room is held until the commit is over (`settle`).
                    room.pending += 1
                    committer.submit(Committer.Entry(message: message, room: room, done: done))
                } else {
                    room.history.append(message)
                    broadcastLocked(room, event: .message(message))
                }
                return message
            }
            // Let go meanwhile: ask for it again.
            guard let message else { return publish(draft, historyWindow: historyWindow, maxRooms: maxRooms, done: done) }
            if committer == nil {
                done?(.success(message))
                retireIfIdle(room)
            }
        }
    }

    /// Called on the store queue once a batch is durable: into the windows, out to members.
    private func broadcastCommitted(_ batch: [Committer.Entry]) async {
        if shared {
            var rooms: [ObjectIdentifier: (Room, [ChatMessage])] = [:]
            for entry in batch { rooms[ObjectIdentifier(entry.room), default: (entry.room, [])].1.append(entry.message) }
            for (room, messages) in rooms.values { await deliverInOrder(room, messages, through: messages.map(\.seq).max() ?? 0) }
            return
        }
        for entry in batch {
            let (message, room) = (entry.message, entry.room)
            room.lock.withLock {
                room.committed = max(room.committed, message.seq)
                room.history.append(message)
                broadcastLocked(room, event: .message(message))
            }
        }
    }

    /// Runs `body` on the store queue, after every message submitted so far.
    func onStoreQueue<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        guard let committer = committer.withLockedValue({ $0 }) else { return await body() }
        return await committer.run(body)
    }

    /// Takes removed messages out of the rooms' windows and tells each room's members (and,
    /// when `announce`, the other nodes').
    func removeFromWindows(_ removed: [ChatMessage], announce: Bool = true) {
        for message in removed {
            if announce { tellCluster(.deleted(node: "", room: message.room, seq: message.seq, id: message.id)) }
            // A room this node does not hold has no window to fix: it is loaded from the
            // store, without the message, when next used (making it here would give it an
            // empty window for every later joiner). One being loaded is told.
            guard let room = heldRoom(message.room, orNote: { $0.deleted.insert(message.seq) }) else { continue }
            room.lock.withLock {
                room.history.remove { $0.room == message.room && $0.seq == message.seq }
                broadcastLocked(room, event: .deleted(room: message.room, seq: message.seq, id: message.id))
            }
        }
    }

    /// Drops expired messages (seq ≤ `upTo`) from a room's window; clients are not told,
    /// they keep what they were shown.
    func expireFromWindow(room name: String, upTo: UInt64, announce: Bool = true) {
        if announce { tellCluster(.expired(node: "", room: name, upTo: upTo)) }
        guard let room = heldRoom(name, orNote: { $0.expiredThrough = max($0.expiredThrough, upTo) }) else { return }
        room.lock.withLock { room.history.remove { $0.seq <= upTo } }
    }

    /// Waits until everything submitted so far is committed (and broadcast).
    func flush() async {
        await committer.withLockedValue { $0 }?.run {}
    }

    /// Encodes `event` once and enqueues one delivery per loop with members. Call with the
    /// room's lock held.
    func broadcastLocked(_ room: Room, event: ServerEvent) {
        room.epoch += 1
        let epoch = room.epoch
        let frame = ServerFrame.text(event.jsonBytes(), allocator: allocator)
        let name = room.name
        let queuedAt = NIODeadline.now()
        let metrics = self.metrics
        for (index, count) in room.perShard.enumerated() where count > 0 {
            let ref = shards[index]
            ref.loop.execute { [self] in
                let counts = ref.shard.value.deliver(room: name, epoch: epoch, frame: frame)
                // Counted once per loop and broadcast, not per member.
                framesOut.add(counts.delivered, ordering: .relaxed)
                metrics.messagesDelivered.increment(by: Int64(counts.delivered))
                if counts.dropped > 0 { metrics.messagesDropped.increment(by: Int64(counts.dropped)) }
                if counts.disconnected > 0 { metrics.slowDisconnects.increment(by: Int64(counts.disconnected)) }
                metrics.fanoutLatency.recordNanoseconds((NIODeadline.now() - queuedAt).nanoseconds)
            }
        }
    }

    /// Tells every connection on every loop to close with `code`.
    func closeAll(code: CloseCode, reason: String) async {
        _ = await onEveryLoop { $0.closeAll(code: code, reason: reason) }
    }

    /// Runs `body` on every loop's shard and collects the results.
    func onEveryLoop<T: Sendable>(_ body: @escaping @Sendable (LoopShard) -> T) async -> [T] {
        var results: [T] = []
        for ref in shards {
            if let value = try? await ref.loop.submit({ body(ref.shard.value) }).get() { results.append(value) }
        }
        return results
    }

    /// True when the room is in use here or has history in the store.
    func roomExists(_ name: String) async -> Bool {
        if existingRoom(name) != nil { return true }
        return ((try? await store?.lastSequence(room: name)) ?? nil) != nil
    }

    /// Rooms with members or history, with their online counts and last sequence numbers.
    func roomInfos() -> [RoomInfo] {
        let all = rooms.withLockedValue { Array($0.values) }
        return all.map { room in
            room.lock.withLock { RoomInfo(name: room.name, online: room.total, lastSeq: room.seq) }
        }.filter { $0.online > 0 || $0.lastSeq > 0 }.sorted { $0.name < $1.name }
    }

    /// Applies a new history window size to every room.
    func resizeHistory(to window: Int) {
        let all = rooms.withLockedValue { Array($0.values) }
        for room in all { room.lock.withLock { room.history.resize(to: window) } }
    }
}

/// One room's shared state. Its fields are guarded by `lock`. A room is held while it has
/// members (here or on other nodes) or commits in flight, then let go (`Hub.retireIfIdle`)
/// and loaded from the store again when next used.
final class Room: @unchecked Sendable {
    let name: String
    let lock = NIOLock()
    var seq: UInt64 = 0
    /// Counts broadcasts (messages and presence) so that a joining member can tell which
    /// queued deliveries predate it.
    var epoch: UInt64 = 0
    /// False for a shared room whose last number could not be read when it was made here
    /// (the database was down): `deliverInOrder` then starts from what it is given.
    var synced = true
    /// Set when the hub let the room go: a holder of a stale reference must ask again.
    var retired = false
    var isIdle: Bool { online == 0 && remoteOnline == 0 && pending == 0 && entering == 0 }
    /// Messages handed to the committer and not yet settled.
    var pending = 0
    /// One node: the last number committed and broadcast (`seq` runs ahead of it by what
    /// the committer holds). What a resume may read from the store goes up to here.
    var committed: UInt64 = 0
    /// Joins handed this room and not yet entered (they hop to their loop first).
    var entering = 0
    /// Members on this node.
    var online = 0
    /// Members on other nodes (a cluster), as their heartbeats and presence events tell.
    var remoteOnline = 0
    var total: Int { online + remoteOnline }
    var perShard: [Int]
    var history: HistoryWindow

    init(name: String, historyWindow: Int, shardCount: Int) {
        self.name = name
        self.perShard = Array(repeating: 0, count: shardCount)
        self.history = HistoryWindow(limit: historyWindow)
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
