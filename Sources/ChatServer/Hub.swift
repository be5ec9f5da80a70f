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
    private let lastSequences: [String: UInt64]
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
        // Shared stores are asked per room when it is first used: other nodes write too.
        lastSequences = shared ? [:] : try store?.lastSequences() ?? [:]
        shards = loops.map { loop in
            ShardRef(loop: loop, shard: NIOLoopBoundBox.makeBoxSendingValue(LoopShard(loop: loop), eventLoop: loop))
        }
        if let store {
            let logger = Logger(label: "chatd.store")
            committer.withLockedValue {
                $0 = Committer(store: store, committed: { [weak self] batch in self?.broadcastCommitted(batch) },
                               failed: { batch, error in
                                   logger.error("history commit failed; \(batch.count) messages not sent: \(error)")
                                   metrics.errors("store_failed").increment(by: Int64(batch.count))
                               })
            }
        }
    }

    /// The shard index of `loop`; the loops are few, so a scan is cheapest.
    func shardIndex(of loop: any EventLoop) -> Int {
        shards.firstIndex { $0.loop === loop } ?? 0
    }

    func room(_ name: String, historyWindow: Int) -> Room {
        rooms.withLockedValue { rooms in
            if let room = rooms[name] { return room }
            let room = Room(name: name, historyWindow: historyWindow, shardCount: shards.count)
            // A room first touched since start continues its sequence and window from the store.
            if shared {
                do {
                    room.seq = try store?.lastSequence(room: name) ?? 0
                } catch {
                    // The database is down: the room starts from the first number it hears of.
                    room.synced = false
                }
            } else {
                room.seq = lastSequences[name] ?? 0
            }
            room.remoteOnline = remotePresence.withLockedValue { $0[name]?.values.reduce(0, +) ?? 0 }
            if let store, room.seq > 0, let recent = try? store.recent(room: name, limit: historyWindow) {
                for m in recent { room.history.append(m) }
            }
            rooms[name] = room
            return room
        }
    }

    /// What a joining session is sent first: the room's window, or for a resume (`since`)
    /// exactly the messages after `since`, with `recovered` telling whether that was possible.
    struct Welcome {
        var messages: [ChatMessage]
        var recovered: Bool?
    }

    /// Adds a membership to its room unless the room is at `maxMembers` (0: no limit).
    /// Runs on the session's loop. Returns the history the member must be sent before
    /// anything else of the room, or nil when the room is full.
    func join(_ member: Membership, shardIndex: Int, since: UInt64?, maxMembers: Int, historyWindow: Int,
              resumeLimit: Int) -> Welcome? {
        let room = room(member.room, historyWindow: historyWindow)
        catchUpIfBehind(room, since: since)
        let name = member.session.name
        let snapshot: ([ChatMessage], UInt64, Int)? = room.lock.withLock {
            if maxMembers > 0 && room.total >= maxMembers { return nil }
            room.perShard[shardIndex] += 1
            room.online += 1
            // Deliveries already queued for this loop carry older epochs and skip the newcomer:
            // it gets those messages from the history snapshot instead, exactly once.
            member.joinEpoch = room.epoch
            let snapshot = (room.history.messages, room.seq, room.online)
            broadcastLocked(room, event: .presence(room: room.name, message: "\(name) joined", online: room.total))
            return snapshot
        }
        guard let (window, lastSeq, local) = snapshot else { return nil }
        tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) joined"))
        shards[shardIndex].shard.value.add(member)
        guard let since else { return Welcome(messages: window, recovered: nil) }
        return resume(room: room.name, since: since, window: window, lastSeq: lastSeq, limit: resumeLimit)
    }

    /// The messages after `since`: from the window when it reaches back far enough, else the
    /// older part from the store (it is immutable, so reading it after the snapshot is safe).
    private func resume(room: String, since: UInt64, window: [ChatMessage], lastSeq: UInt64, limit: Int) -> Welcome {
        if since > lastSeq { return Welcome(messages: window, recovered: false) }  // a sequence this room never had
        if since == lastSeq { return Welcome(messages: [], recovered: true) }
        if let first = window.first, first.seq <= since + 1 {
            return Welcome(messages: window.filter { $0.seq > since }, recovered: true)
        }
        let missed = lastSeq - since
        guard let store, missed <= UInt64(limit),
              let oldest = try? store.oldestSequence(room: room), oldest <= since + 1
        else {
            return Welcome(messages: window, recovered: false)
        }
        let upTo = window.first?.seq ?? (lastSeq + 1)
        guard let older = try? store.messages(room: room, after: since, limit: Int(missed)) else {
            return Welcome(messages: window, recovered: false)
        }
        let merged = older.filter { $0.seq < upTo } + window
        // Exact or nothing: a hole (a message deleted meanwhile is a known hole) means not recovered.
        return Welcome(messages: merged, recovered: merged.first.map { $0.seq == since + 1 } ?? false)
    }

    /// A resume on request (`history` with `since`), for a connection already in the room.
    func catchUp(room name: String, since: UInt64, historyWindow: Int, limit: Int) -> Welcome {
        let room = room(name, historyWindow: historyWindow)
        catchUpIfBehind(room, since: since)
        let (window, lastSeq) = room.lock.withLock { (room.history.messages, room.seq) }
        return resume(room: name, since: since, window: window, lastSeq: lastSeq, limit: limit)
    }

    /// Older messages on request (`history` with `before`).
    func older(room: String, before: UInt64, limit: Int) -> [ChatMessage] {
        guard let store else {
            let room = self.room(room, historyWindow: 0)
            return room.lock.withLock { Array(room.history.messages.filter { $0.seq < before }.suffix(limit)) }
        }
        return (try? store.messages(room: room, before: before, limit: limit)) ?? []
    }

    /// Removes a membership from its room and tells the others. Runs on the session's loop.
    func leave(_ member: Membership, shardIndex: Int) {
        shards[shardIndex].shard.value.remove(member)
        let room = room(member.room, historyWindow: 0)
        let name = member.session.name
        let local = room.lock.withLock {
            room.perShard[shardIndex] -= 1
            room.online -= 1
            broadcastLocked(room, event: .presence(room: room.name, message: "\(name) left", online: room.total))
            return room.online
        }
        tellCluster(.presence(node: "", room: room.name, online: local, text: "\(name) left"))
    }

    /// Appends a message to its room's history and sends it to every member, sender included.
    /// With a store, `done` is told on the store queue whether it was committed (and with
    /// which number, which a shared store gives out only then).
    @discardableResult
    func publish(room name: String, from: String, text: String, author: String = "", data: String? = nil,
                 historyWindow: Int, done: (@Sendable (Result<ChatMessage, any Error>) -> Void)? = nil) -> ChatMessage {
        let room = room(name, historyWindow: historyWindow)
        let id = UUID().uuidString.lowercased()
        let sentAt = Timestamp.iso8601(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        messagesIn.add(1, ordering: .relaxed)
        metrics.messagesReceived.increment()
        let committer = self.committer.withLockedValue { $0 }
        let message: ChatMessage = room.lock.withLock {
            // A shared store numbers the message when it commits it.
            if !shared { room.seq += 1 }
            let message = ChatMessage(id: id, seq: shared ? 0 : room.seq, room: name, from: from, text: text, sentAt: sentAt,
                                      author: author, data: data)
            if let committer {
                // Handed over under the room lock: the store queue sees each room in order.
                committer.submit(Committer.Entry(message: message, room: room, done: done))
            } else {
                room.history.append(message)
                broadcastLocked(room, event: .message(message))
            }
            return message
        }
        if committer == nil { done?(.success(message)) }
        return message
    }

    /// Called on the store queue once a batch is durable: into the windows, out to members.
    private func broadcastCommitted(_ batch: [Committer.Entry]) {
        if shared {
            var rooms: [ObjectIdentifier: (Room, [ChatMessage])] = [:]
            for entry in batch { rooms[ObjectIdentifier(entry.room), default: (entry.room, [])].1.append(entry.message) }
            for (room, messages) in rooms.values { deliverInOrder(room, messages, through: messages.map(\.seq).max() ?? 0) }
            return
        }
        for entry in batch {
            let (message, room) = (entry.message, entry.room)
            room.lock.withLock {
                room.history.append(message)
                broadcastLocked(room, event: .message(message))
            }
        }
    }

    /// Runs `body` on the store queue, after every message submitted so far.
    func onStoreQueue<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        let committer = self.committer.withLockedValue { $0 }
        guard let committer else { return body() }
        return await withCheckedContinuation { continuation in
            committer.async { continuation.resume(returning: body()) }
        }
    }

    /// Takes removed messages out of the rooms' windows and tells each room's members (and,
    /// when `announce`, the other nodes').
    func removeFromWindows(_ removed: [ChatMessage], announce: Bool = true) {
        for message in removed {
            if announce { tellCluster(.deleted(node: "", room: message.room, seq: message.seq, id: message.id)) }
            let room = self.room(message.room, historyWindow: 0)
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
        guard let room = rooms.withLockedValue({ $0[name] }) else { return }
        room.lock.withLock { room.history.remove { $0.seq <= upTo } }
    }

    /// Waits until everything submitted so far is committed (and broadcast).
    func flush() {
        committer.withLockedValue { $0 }?.sync {}
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

    /// True when the room has been used since start (members, or history from the store).
    func roomExists(_ name: String) -> Bool {
        if rooms.withLockedValue({ $0[name] != nil }) || lastSequences[name] != nil { return true }
        return shared && (try? store?.lastSequence(room: name)) != nil
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

/// One room's shared state. Its fields are guarded by `lock`. Rooms are kept for the life of
/// the process with their history window (bounded by `history.window` per room).
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
