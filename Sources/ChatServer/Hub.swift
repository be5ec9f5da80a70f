import ChatControl
import ChatCore
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
    private let rooms = NIOLockedValueBox<[String: Room]>([:])
    private let allocator = ByteBufferAllocator()
    /// Open WebSocket connections (chat and echo), for /healthz.
    let connections = Atomic<Int>(0)
    let messagesIn = Atomic<Int>(0)
    let framesOut = Atomic<Int>(0)
    let metrics: ChatMetrics

    init(loops: [any EventLoop], metrics: ChatMetrics) {
        self.metrics = metrics
        shards = loops.map { loop in
            ShardRef(loop: loop, shard: NIOLoopBoundBox.makeBoxSendingValue(LoopShard(), eventLoop: loop))
        }
    }

    /// The shard index of `loop`; the loops are few, so a scan is cheapest.
    func shardIndex(of loop: any EventLoop) -> Int {
        shards.firstIndex { $0.loop === loop } ?? 0
    }

    private func room(_ name: String, historyWindow: Int) -> Room {
        rooms.withLockedValue { rooms in
            if let room = rooms[name] { return room }
            let room = Room(name: name, historyWindow: historyWindow, shardCount: shards.count)
            rooms[name] = room
            return room
        }
    }

    /// Adds `session` to its room. Runs on the session's loop. Returns the history the
    /// session must be sent before anything else of the room.
    func join(_ session: ChatSession, shardIndex: Int, historyWindow: Int) -> [ChatMessage] {
        let room = room(session.room, historyWindow: historyWindow)
        let history: [ChatMessage] = room.lock.withLock {
            room.perShard[shardIndex] += 1
            room.online += 1
            // Deliveries already queued for this loop carry older epochs and skip the newcomer:
            // it gets those messages from the history snapshot instead, exactly once.
            session.joinEpoch = room.epoch
            let history = room.history.messages
            broadcastLocked(room, event: .presence(message: "\(session.name) joined", online: room.online))
            return history
        }
        shards[shardIndex].shard.value.add(session)
        return history
    }

    /// Removes `session` from its room and tells the others. Runs on the session's loop.
    func leave(_ session: ChatSession, shardIndex: Int) {
        shards[shardIndex].shard.value.remove(session)
        let room = room(session.room, historyWindow: 0)
        room.lock.withLock {
            room.perShard[shardIndex] -= 1
            room.online -= 1
            broadcastLocked(room, event: .presence(message: "\(session.name) left", online: room.online))
        }
    }

    /// Appends a message to its room's history and sends it to every member, sender included.
    @discardableResult
    func publish(room name: String, from: String, text: String, historyWindow: Int) -> ChatMessage {
        let room = room(name, historyWindow: historyWindow)
        let id = UUID().uuidString.lowercased()
        let sentAt = Timestamp.iso8601(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        messagesIn.add(1, ordering: .relaxed)
        metrics.messagesReceived.increment()
        return room.lock.withLock {
            room.seq += 1
            let message = ChatMessage(id: id, seq: room.seq, room: name, from: from, text: text, sentAt: sentAt)
            room.history.append(message)
            broadcastLocked(room, event: .message(message))
            return message
        }
    }

    /// Encodes `event` once and enqueues one delivery per loop with members. Call with the
    /// room's lock held.
    private func broadcastLocked(_ room: Room, event: ServerEvent) {
        room.epoch += 1
        let epoch = room.epoch
        let frame = ServerFrame.text(event.jsonBytes(), allocator: allocator)
        let name = room.name
        let queuedAt = NIODeadline.now()
        let metrics = self.metrics
        for (index, count) in room.perShard.enumerated() where count > 0 {
            let ref = shards[index]
            ref.loop.execute { [self] in
                let (delivered, dropped) = ref.shard.value.deliver(room: name, epoch: epoch, frame: frame)
                // Counted once per loop and broadcast, not per member.
                framesOut.add(delivered, ordering: .relaxed)
                metrics.messagesDelivered.increment(by: Int64(delivered))
                if dropped > 0 { metrics.messagesDropped.increment(by: Int64(dropped)) }
                metrics.fanoutLatency.recordNanoseconds((NIODeadline.now() - queuedAt).nanoseconds)
            }
        }
    }

    /// Tells every connection on every loop to close with `code`.
    func closeAll(code: CloseCode, reason: String) async {
        for ref in shards {
            try? await ref.loop.submit { ref.shard.value.closeAll(code: code, reason: reason) }.get()
        }
    }

    /// Runs `body` on every loop's shard and collects the results.
    func onEveryLoop<T: Sendable>(_ body: @escaping @Sendable (LoopShard) -> T) async -> [T] {
        var results: [T] = []
        for ref in shards {
            if let value = try? await ref.loop.submit({ body(ref.shard.value) }).get() { results.append(value) }
        }
        return results
    }

    /// Rooms with members or history, with their online counts and last sequence numbers.
    func roomInfos() -> [RoomInfo] {
        let all = rooms.withLockedValue { Array($0.values) }
        return all.map { room in
            room.lock.withLock { RoomInfo(name: room.name, online: room.online, lastSeq: room.seq) }
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
    var online = 0
    var perShard: [Int]
    var history: HistoryWindow

    init(name: String, historyWindow: Int, shardCount: Int) {
        self.name = name
        self.perShard = Array(repeating: 0, count: shardCount)
        self.history = HistoryWindow(limit: historyWindow)
    }
}
