import ChatCluster
import ChatCore
import ChatStore
import Foundation
import Logging
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
    let idle = NIOLockedValueBox(IdleRooms())
    /// Rooms being read from the store; changed only under the `rooms` lock.
    let loading = NIOLockedValueBox<[String: RoomLoad]>([:])
    /// How many idle rooms are held for reuse before the oldest are let go.
    let idleRoomsKept = Atomic<Int>(256)
    /// True when the store numbers messages (PostgreSQL, several nodes): a room's `seq` is
    /// then the last one delivered here, advanced in order by `deliverInOrder`.
    var storeNumbersMessages: Bool { storage == .numberedByStore }
    /// Where history is kept, as rooms' decisions need it.
    let storage: RoomState.Storage
    /// The other nodes, in a cluster (set once at start).
    let cluster = NIOLockedValueBox<ClusterBus?>(nil)
    /// Joins, leaves and occupancy for the webhook outbox (nil without a store).
    let webhookEvents: WebhookEnqueuer?
    /// Members on other nodes: room → node → count.
    let remotePresence = NIOLockedValueBox<[String: [String: Int]]>([:])

    init(loops: [any EventLoop], metrics: ChatMetrics, store: (any ChatStore)? = nil) throws {
        self.metrics = metrics
        self.store = store
        webhookEvents = store.map { _ in WebhookEnqueuer(metrics: metrics) }
        storage = store.map { $0.assignsSequences ? .numberedByStore : .numberedHere } ?? .none
        shards = loops.map { loop in
            ShardRef(loop: loop, shard: NIOLoopBoundBox.makeBoxSendingValue(LoopShard(loop: loop), eventLoop: loop))
        }
        if let store {
            let logger = Logger(label: "chatd.store")
            let failureLog = NIOLockedValueBox(FailureLog())
            committer.withLockedValue {
                // One node broadcasts a batch at once, on the store queue; a cluster delivers
                // it in the database's order, which may mean reading a gap first.
                let committed: Committer.Committed =
                    storeNumbersMessages
                    ? .later { [weak self] batch in
                        await self?.deliverCommittedInOrder(batch)
                        self?.settle(batch)
                    }
                    : .now { [weak self] batch in
                        self?.broadcastCommitted(batch)
                        self?.settle(batch)
                    }
                $0 = Committer(
                    store: store,
                    committed: committed,
                    failed: { [weak self] batch, error in
                        // At most one line a second: a full disk fails every message, each in a
                        // batch of its own (35,000 lines in 17 s filled the disk further).
                        if let unlogged = failureLog.withLockedValue({ $0.take(batch.count, now: ContinuousClock.now) }) {
                            logger.error("history commit failed; \(unlogged) messages not sent: \(error)")
                        }
                        metrics.errors("store_failed").increment(by: Int64(batch.count))
                        self?.settle(batch)
                    },
                    eventsLost: { metrics.errors("webhook_events_dropped").increment(by: Int64($0)) })
            }
            let made = committer.withLockedValue { $0 }
            webhookEvents?.committer.withLockedValue { $0 = made }
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

    /// A batch's commits are over (stored or not): its rooms may be idle now.
    private func settle(_ batch: [Committer.Entry]) {
        var touched: [ObjectIdentifier: Room] = [:]
        for entry in batch {
            entry.room.lock.withLock { entry.room.state.settled() }
            touched[ObjectIdentifier(entry.room)] = entry.room
        }
        for room in touched.values { retireIfIdle(room) }
    }

    /// Appends a message to its room's history and sends it to every member, sender included.
    /// With a store, `done` is told on the store queue whether it was committed (and with
    /// which number, which a shared store gives out only then).
    /// With a `nonce` (`MessageNonce`), a message its author already stored in the room with
    /// it is not stored again: `done` is told the original, whose `id` is not `id`.
    func publish(
        room name: String, from: String, text: String, author: String = "", data: String? = nil, id: String? = nil,
        nonce: String? = nil, replyTo: UInt64? = nil, editOf: MessageRef? = nil, reaction: ReactionChange? = nil,
        deletion: Bool = false, historyWindow: Int, maxRooms: Int = .max,
        done: (@Sendable (Result<ChatMessage, any Error>) -> Void)? = nil
    ) {
        let id = id ?? RandomID.uuid()
        let sentAt = Self.sentAtNow()
        messagesIn.add(1, ordering: .relaxed)
        metrics.messagesReceived.increment()
        var draft = ChatMessage(
            id: id, seq: 0, room: name, from: from, text: text, sentAt: sentAt, author: author, data: data, nonce: nonce,
            replyTo: replyTo, editOf: editOf)
        draft.reaction = reaction
        draft.deletion = deletion
        if nonce != nil, store != nil {
            return publishUnique(draft, checked: nil, historyWindow: historyWindow, maxRooms: maxRooms, done: done)
        }
        publish(draft, historyWindow: historyWindow, maxRooms: maxRooms, done: done)
    }

    /// A message's `sentAt` for now; a purge compares against the same form.
    static func sentAtNow() -> String {
        Timestamp.iso8601(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
    }

    private func publish(
        _ draft: ChatMessage, historyWindow: Int, maxRooms: Int,
        done: (@Sendable (Result<ChatMessage, any Error>) -> Void)?
    ) {
        withRoom(draft.room, historyWindow: historyWindow, maxRooms: maxRooms) { [self] found in
            let room: Room
            switch found {
            case let .success(held): room = held
            case let .failure(refusal): return done?(.failure(refusal)) ?? ()
            }
            let committer = self.committer.withLockedValue { $0 }
            var original: ChatMessage?
            let message: ChatMessage? = room.lock.withLock {
                if room.retired { return nil }
                // Without a store the window is all there is to remember a nonce by.
                if committer == nil, let nonce = draft.nonce,
                    let found = room.state.history.messages.last(where: { $0.nonce == nonce && $0.author == draft.author })
                {
                    original = found
                    return found
                }
                var message = draft
                // A shared store numbers the message when it commits it.
                if !storeNumbersMessages { message.seq = room.state.numberNext() }
                if let committer {
                    // Handed over under the room lock: the store queue sees each room in order.
                    // The room is held until the commit is over (`settle`).
                    room.state.handedToCommitter()
                    committer.submit(Committer.Entry(message: message, room: room, done: done))
                } else {
                    room.state.committed(message)
                    broadcastLocked(room, event: .message(message))
                }
                return message
            }
            // Let go meanwhile: ask for it again.
            guard let message else { return publish(draft, historyWindow: historyWindow, maxRooms: maxRooms, done: done) }
            if let original { return done?(.success(original)) ?? () }
            if committer == nil {
                done?(.success(message))
                retireIfIdle(room)
            }
        }
    }

    /// Called on the store queue once a cluster's batch is durable: each room's messages in
    /// the database's order (`deliverInOrder`).
    private func deliverCommittedInOrder(_ batch: [Committer.Entry]) async {
        for (room, messages) in Self.byRoom(batch) {
            await deliverInOrder(room, messages, through: messages.map(\.seq).max() ?? 0)
        }
    }

    /// A batch's stored messages (not the duplicates) by room, rooms in the order they first
    /// appear, each room's messages in the batch's order.
    private static func byRoom(_ batch: [Committer.Entry]) -> [(room: Room, messages: [ChatMessage])] {
        var groups: [(room: Room, messages: [ChatMessage])] = []
        var index: [ObjectIdentifier: Int] = [:]
        for entry in batch where !entry.isDuplicate {
            let key = ObjectIdentifier(entry.room)
            if let at = index[key] {
                groups[at].messages.append(entry.message)
            } else {
                index[key] = groups.count
                groups.append((entry.room, [entry.message]))
            }
        }
        return groups
    }

    /// Called on the store queue once one node's batch is durable: into the windows, out to
    /// members.
    private func broadcastCommitted(_ batch: [Committer.Entry]) {
        // Each room's messages leave as one `BroadcastBatch` (so order holds per room only).
        for (room, messages) in Self.byRoom(batch) {
            room.lock.withLock {
                for message in messages { room.state.committed(message) }
                broadcastLocked(room, events: messages.map { .message($0) })
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
            // An edit (a purged sender's) leaves the window with no word to anyone.
            guard message.isMessage else {
                guard let room = heldRoom(message.room, orNote: { $0.deleted.insert(message.seq) }) else { continue }
                room.lock.withLock { room.state.history.remove { $0.seq == message.seq } }
                continue
            }
            if announce { tellCluster(.deleted(node: "", room: message.room, seq: message.seq, id: message.id)) }
            // A room this node does not hold has no window to fix: it is loaded from the
            // store, without the message, when next used (making it here would give it an
            // empty window for every later joiner). One being loaded is told.
            guard let room = heldRoom(message.room, orNote: { $0.deleted.insert(message.seq) }) else { continue }
            room.lock.withLock {
                // The message's edits go with it: a resume must not be sent the text of one.
                room.state.history.remove { $0.room == message.room && ($0.seq == message.seq || $0.editOf?.seq == message.seq) }
                broadcastLocked(room, event: .deleted(room: message.room, seq: message.seq, id: message.id))
            }
        }
    }

    /// Drops expired messages (seq ≤ `upTo`) from a room's window; clients are not told,
    /// they keep what they were shown.
    func expireFromWindow(room name: String, upTo: UInt64, announce: Bool = true) {
        if announce { tellCluster(.expired(node: "", room: name, upTo: upTo)) }
        guard let room = heldRoom(name, orNote: { $0.expiredThrough = max($0.expiredThrough, upTo) }) else { return }
        room.lock.withLock { room.state.history.remove { $0.seq <= upTo } }
    }

    /// Waits until everything submitted so far is committed (and broadcast).
    func flush() async {
        await committer.withLockedValue { $0 }?.run {}
    }

    /// Encodes `event` once and enqueues one delivery per loop with members. Call with the
    /// room's lock held.
    /// An `ephemeral` event (`typing`) skips members already behind, and the session `except`.
    func broadcastLocked(_ room: Room, event: ServerEvent, ephemeral: Bool = false, except: ObjectIdentifier? = nil) {
        broadcastLocked(room, events: [event], ephemeral: ephemeral, except: except)
    }

    /// Encodes each event once and enqueues one delivery per loop with members for all of
    /// them together (`BroadcastBatch`). Call with the room's lock held.
    func broadcastLocked(_ room: Room, events: [ServerEvent], ephemeral: Bool = false, except: ObjectIdentifier? = nil) {
        guard !events.isEmpty else { return }
        var firstEpoch: UInt64 = 0
        var frames: [ByteBuffer] = []
        frames.reserveCapacity(events.count)
        for event in events {
            let epoch = room.state.nextEpoch()
            if frames.isEmpty { firstEpoch = epoch }
            frames.append(ServerFrame.text(event.jsonBytes(), allocator: allocator))
        }
        let batch = BroadcastBatch(firstEpoch: firstEpoch, frames: frames)
        let name = room.name
        let queuedAt = NIODeadline.now()
        let metrics = self.metrics
        for (index, count) in room.state.perShard.enumerated() where count > 0 {
            let ref = shards[index]
            ref.loop.execute { [self] in
                let counts = ref.shard.value.deliver(room: name, batch: batch, ephemeral: ephemeral, except: except)
                // Counted once per loop and batch, not per member.
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

    /// `members`: who is in the room on this node. One walk of the room's members on every
    /// loop answers all askers while it is fresh (`MemberList.answers`); while it is redone,
    /// askers get the previous one. `online` is the list's connections plus the other
    /// nodes' count, so that the answer adds up.
    func members(of room: Room) async -> ServerEvent {
        let now = NIODeadline.now().uptimeNanoseconds
        let (known, changes): (MemberList?, UInt64) = room.lock.withLock {
            let changes = room.state.memberChanges
            guard let last = room.memberList else { return (nil, changes) }
            if MemberList.answers(madeAt: last.at, madeAfter: last.after, now: now, changes: changes) { return (last.list, changes) }
            room.memberList = (now, last.after, last.list)  // the others asking meanwhile are given this one
            return (nil, changes)
        }
        let list: MemberList
        if let known {
            list = known
        } else {
            list = MemberList(names: await onEveryLoop { $0.names(in: room.name) }.joined())
            room.lock.withLock { room.memberList = (now, changes, list) }
        }
        let elsewhere = room.lock.withLock { room.state.remoteMembers }
        return .members(room: room.name, list: list, online: list.connections + elsewhere, elsewhere: elsewhere)
    }

    /// True when the room is in use here or has history in the store.
    func roomExists(_ name: String) async -> Bool {
        if existingRoom(name) != nil { return true }
        return ((try? await store?.lastSequence(room: name)) ?? nil) != nil
    }

    /// Rooms with members or history, with their online counts and last sequence numbers.
    func roomSummaries() -> [RoomSummary] {
        let all = rooms.withLockedValue { Array($0.values) }
        return all.map { room in
            room.lock.withLock { RoomSummary(name: room.name, members: room.state.total, lastSeq: room.state.seq) }
        }.filter { $0.members > 0 || $0.lastSeq > 0 }.sorted { $0.name < $1.name }
    }

    /// Applies a new history window size to every room.
    func resizeHistory(to window: Int) {
        let all = rooms.withLockedValue { Array($0.values) }
        for room in all { room.lock.withLock { room.state.history.resize(to: window) } }
    }
}

/// Counts failed messages between log lines: a line at most once a second, with the count
/// since the last one (what fails in the last second of an outage is counted by
/// `chatd_errors_total{code="store_failed"}`, not logged).
struct FailureLog {
    private var lastLine: ContinuousClock.Instant?
    private var unlogged = 0

    /// The count to log now, or nil to hold it for the next line.
    mutating func take(_ count: Int, now: ContinuousClock.Instant) -> Int? {
        unlogged = unlogged.saturatingAdd(count)
        if let lastLine, now - lastLine < .seconds(1) { return nil }
        lastLine = now
        defer { unlogged = 0 }
        return unlogged
    }
}
