import ChatCore
import NIOCore

/// One session's place in one room on its loop: where it sits in the loop's member list, and
/// the room's broadcast epoch when it joined (older deliveries skip it).
final class Membership {
    unowned let session: ChatSession
    let room: String
    var slot = -1
    var joinEpoch: UInt64 = 0
    /// When this connection's last `typing` in the room was told (monotonic ns; 0: never).
    var typedAt: UInt64 = 0
    /// The room entered (set on join): leaving must find it even before a room that was
    /// being loaded is visible in the hub's table.
    var entered: Room?
    /// The room's slow-consumer rule, looked up at join and on reload, not per delivery.
    var slowConsumer = RoomRule.SlowConsumer.disconnect

    init(session: ChatSession, room: String) {
        self.session = session
        self.room = room
    }
}

/// The members of each room that live on one event loop. Touched only on that loop, so it
/// needs no lock; the hub reaches it with one task per broadcast.
final class LoopShard {
    private let loop: any EventLoop
    private var rooms: [String: [Membership]] = [:]
    /// Sessions written to since the last flush: one flush per connection per loop pass,
    /// however many broadcasts reached it in that pass.
    private var unflushed: [ChatSession] = []

    /// permessage-deflate for this loop's connections (zlib streams shared by all of them).
    let compression = MessageCompression()

    private var heartbeat: Scheduled<Void>?
    private var heartbeatInterval: Int64 = 0
    /// Which scheduling of the heartbeat is current (see `scheduleHeartbeat`).
    private var heartbeatGeneration: UInt64 = 0

    /// Paces pipelined HTTP work on this loop (`LoopPacer`).
    let pacer: LoopPacer
    private let allocator = ByteBufferAllocator()

    init(loop: any EventLoop) {
        self.loop = loop
        pacer = LoopPacer(loop: loop)
    }

    /// Starts (or retimes, after a reload) this loop's heartbeat: one timer pings every
    /// session here each interval.
    func ensureHeartbeat(intervalNanoseconds: Int64) {
        guard intervalNanoseconds != heartbeatInterval else { return }
        heartbeat?.cancel()
        heartbeatInterval = intervalNanoseconds
        scheduleHeartbeat()
    }

    private func scheduleHeartbeat() {
        heartbeatGeneration &+= 1
        let generation = heartbeatGeneration
        heartbeat = loop.assumeIsolated().scheduleTask(in: .nanoseconds(heartbeatInterval)) { [self] in
            // A timer cancelled in the same loop pass that runs it still runs: a stopped or
            // retimed heartbeat must not re-arm (with interval 0 it would spin the loop).
            guard generation == heartbeatGeneration, heartbeatInterval > 0 else { return }
            for session in sessions.values { session.heartbeatTick() }
            guard generation == heartbeatGeneration, heartbeatInterval > 0 else { return }
            scheduleHeartbeat()
        }
    }

    func stopHeartbeat() {
        heartbeat?.cancel()
        heartbeat = nil
        heartbeatInterval = 0
        heartbeatGeneration &+= 1
    }
    /// Every session on this loop, members or not (echo sessions), for shutdown.
    private var sessions: [ObjectIdentifier: ChatSession] = [:]

    /// Chat sessions by author key, for read markers: a `read` is told to the identity's
    /// other connections, and a scan of every session here per read would not be cheap.
    private var readers: [String: Readers] = [:]

    /// Most identities have one connection: that one needs no set of its own (a set is an
    /// 80-byte allocation per idle connection).
    private enum Readers {
        case one(ObjectIdentifier)
        case many(Set<ObjectIdentifier>)

        var all: Set<ObjectIdentifier> {
            switch self {
            case let .one(id): [id]
            case let .many(ids): ids
            }
        }
    }

    func register(_ session: ChatSession) {
        let id = ObjectIdentifier(session)
        sessions[id] = session
        guard !session.echo else { return }
        switch readers[session.authorKey] {
        case nil: readers[session.authorKey] = .one(id)
        case let .one(other): readers[session.authorKey] = .many([other, id])
        case var .many(ids):
            readers[session.authorKey] = nil  // the set is then uniquely held: inserted in place
            ids.insert(id)
            readers[session.authorKey] = .many(ids)
        }
    }

    func unregister(_ session: ChatSession) {
        let id = ObjectIdentifier(session)
        sessions[id] = nil
        guard !session.echo, let current = readers[session.authorKey] else { return }
        var left = current.all
        left.remove(id)
        readers[session.authorKey] = left.count > 1 ? .many(left) : left.first.map { .one($0) }
    }

    /// Sends `event` to the sessions of `reader` here, but `except`.
    func tellReader(_ reader: String, _ event: ServerEvent, except: ObjectIdentifier?) {
        for id in readers[reader]?.all ?? [] where id != except { sessions[id]?.send(event, flush: true) }
    }

    /// Closes every session on this loop with `code`.
    func closeAll(code: ChatCore.CloseCode, reason: String) {
        stopHeartbeat()
        for session in sessions.values { session.close(code: code, reason: reason) }
    }

    func add(_ member: Membership) {
        var members = rooms[member.room, default: []]
        member.slot = members.count
        members.append(member)
        rooms[member.room] = members
    }

    func remove(_ member: Membership) {
        guard member.slot >= 0, var members = rooms[member.room], member.slot < members.count,
            members[member.slot] === member
        else { return }
        let slot = member.slot
        members.swapAt(slot, members.count - 1)
        members.removeLast()
        if slot < members.count { members[slot].slot = slot }
        member.slot = -1
        rooms[member.room] = members.isEmpty ? nil : members
    }

    /// Writes a room's broadcasts (pre-encoded, in order) to every local member that joined
    /// before them: a member that keeps up gets them as one write (`BroadcastBatch.joined`).
    func deliver(
        room: String, batch: BroadcastBatch, ephemeral: Bool = false, except: ObjectIdentifier? = nil
    ) -> DeliveryCounts {
        guard let members = rooms[room] else { return DeliveryCounts() }
        var counts = DeliveryCounts()
        let flushPending = !unflushed.isEmpty
        // Each form made once: plain, and compressed once per window size for the members
        // that negotiated permessage-deflate.
        var forms: [BatchForm] = []
        for member in members {
            let session = member.session
            let seen = batch.seen(joinEpoch: member.joinEpoch)
            guard seen < batch.frames.count else { continue }
            // An ephemeral event (`typing`) skips its sender, and anyone already behind: it
            // is worth nothing late, and must not push a slow member over its limit.
            if ephemeral, ObjectIdentifier(session) == except || !session.keepsUp { continue }
            let bits = session.deflateWindowBits
            let index =
                forms.firstIndex { $0.bits == bits }
                ?? {
                    forms.append(
                        BatchForm(bits: bits, batch: bits == 0 ? batch : batch.map { session.compressedFrame($0, windowBits: bits) }))
                    return forms.count - 1
                }()
            let form = forms[index].batch
            if seen == 0, session.keepsUp, let joined = forms[index].joined(allocator: allocator) {
                session.writeFrame(joined, flush: false)
                counts.delivered += form.frames.count
                awaitFlush(session)
                continue
            }
            // Behind, or joined midway: frame by frame, each under the room's slow-consumer rule.
            for frame in form.frames[seen...] {
                switch session.deliver(frame, member: member) {
                case .written:
                    counts.delivered += 1
                    awaitFlush(session)
                case let .queued(dropped):
                    counts.delivered += 1
                    counts.dropped += dropped
                case .disconnected:
                    counts.disconnected += 1
                case .closed:
                    counts.dropped += 1
                }
            }
        }
        if !flushPending && !unflushed.isEmpty {
            // Runs after the deliveries already queued on this loop: they share the flush.
            loop.assumeIsolated().execute { self.flush() }
        }
        return counts
    }

    private func awaitFlush(_ session: ChatSession) {
        guard !session.awaitingFlush else { return }
        session.awaitingFlush = true
        unflushed.append(session)
    }

    private func flush() {
        let sessions = unflushed
        unflushed.removeAll(keepingCapacity: true)
        for session in sessions { session.flushNow() }
    }

    /// Applies reloaded settings to every session here; returns how many were revoked.
    func applyReload(_ settings: Settings) -> Int {
        if heartbeatInterval != 0 { ensureHeartbeat(intervalNanoseconds: settings.pingIntervalNanoseconds) }
        return sessions.values.reduce(0) { $0 + ($1.applyReload(settings) ? 1 : 0) }
    }

    /// Closes the session with this id, or those of this identity (`UserTarget`), with 1008;
    /// returns how many.
    func kick(connection: String?, user: String?, reason: String) -> Int {
        // Compared as bits: spelling out every session's id per kick cost ≈ 1 ms at 10,000.
        let wanted = connection.flatMap(RandomID.parse)
        let matches = sessions.values.filter { s in
            (wanted.map { $0 == s.idBits } ?? false)
                || (user != nil && s.answers(to: user!))
        }
        for session in matches { session.close(code: .policyViolation, reason: reason) }
        return matches.count
    }

    func count(user: String) -> Int {
        sessions.values.reduce(0) { $0 + ($1.answers(to: user) ? 1 : 0) }
    }

    /// The display names of this loop's members of `room`, one per connection.
    func names(in room: String) -> [String] {
        rooms[room]?.map { $0.session.name } ?? []
    }

    func connections(room: String?) -> [ConnectionSummary] {
        let now = NIODeadline.now()
        return sessions.values.filter { room == nil || $0.isMember(of: room!) }.map { s in
            ConnectionSummary(
                id: s.id, name: s.name, user: s.echo ? nil : UserTarget.shown(userKey: s.identity.userKey, authorKey: s.authorKey),
                room: s.echo ? "(echo)" : s.roomList.joined(separator: ","), address: s.address,
                connectedSeconds: Double((now - s.connectedAt).nanoseconds) / 1e9)
        }
    }
}

/// One form of a batch on one loop (plain, or compressed for a window size): its frames are
/// joined the first time a member that keeps up needs them.
private struct BatchForm {
    let bits: Int
    let batch: BroadcastBatch
    private var joinedOnce: ByteBuffer??

    init(bits: Int, batch: BroadcastBatch) {
        self.bits = bits
        self.batch = batch
    }

    mutating func joined(allocator: ByteBufferAllocator) -> ByteBuffer? {
        if let made = joinedOnce { return made }
        let made = batch.joined(allocator: allocator)
        joinedOnce = .some(made)
        return made
    }
}

struct DeliveryCounts {
    var delivered = 0
    /// Frames not delivered: dropped from slow members' queues, or to closing connections.
    var dropped = 0
    /// Slow members closed (their rooms' `disconnect` rule).
    var disconnected = 0
}
