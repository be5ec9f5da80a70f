import ChatAuth
import ChatCore
import Foundation
import NIOCore

/// One WebSocket connection after the upgrade: frames in, chat events out. Lives on its
/// channel's event loop; the hub reaches it only through its loop's `LoopShard`.
///
/// An adapter: what to do with each frame, request, ping, broadcast and reload is decided in
/// ChatCore (`RequestIntake`, `CommandPlan`, `ControlFrameBudget`, `OutboundQueue`,
/// `ReloadEffects`, `Heartbeat`, `CloseHandshake`); this class carries it out on the channel.
/// Its members are internal, not private, because the way in and the way out live in
/// `ChatSession+Inbound.swift` and `ChatSession+Outbound.swift`.
///
/// After the upgrade it is the connection's only handler: it parses the client's frames
/// itself (`WebSocketFraming`) and writes pre-encoded server frames straight to the socket.
final class ChatSession: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    /// Nothing is written through this handler by others; it is outbound to hold back
    /// `read()` while the client is not reading.
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    /// The connection's id, a random UUID kept as its 128 bits (its text, asked for by
    /// listings only, would be an 80-byte allocation per connection; a kick compares bits).
    let idBits = RandomID.bits()
    var id: String { RandomID.format(idBits.0, idBits.1) }
    let name: String
    /// The room named at the upgrade: commands that name no room mean it.
    let primaryRoom: String
    /// permessage-deflate's window (9…15) when negotiated, else 0: messages at least
    /// `compression.min_bytes` long go compressed, and compressed ones come in.
    let deflateWindowBits: Int
    /// The token presented at the upgrade, or the last one a `refresh` accepted; reloads
    /// re-check it, so a revoked one closes.
    var credential: String
    /// Asks `proxy.publish_url` about this session's messages.
    let backend: BackendClient?
    /// True for a session the connect proxy admitted (it has no token): it cannot refresh,
    /// and is told nothing before its `expires_at`; it reconnects through the backend.
    var proxied: Bool { credential.isEmpty }
    let address: String
    let connectedAt = NIODeadline.now()
    /// The rooms this connection is in, in the order joined.
    var memberships: [Membership] = []

    let hub: Hub
    let moderation: Moderation
    let limits: ClientLimits
    /// The author key of this session's messages and its per-user rate limit: the
    /// credential's user, and for shared plain tokens also the chosen name.
    let authorKey: String
    private(set) var identity: Identity
    var settings: Settings
    var context: ChannelHandlerContext?
    var shardIndex = 0
    var heartbeat = Heartbeat()
    /// Pings and pongs of this read pass (`ControlFrameBudget`); the newest ping not answered
    /// at once is answered at the end of the pass.
    var controlFrames = ControlFrameBudget()
    /// What is needed only now and then (`SessionRare`), while it is.
    var rare: SessionRare?
    var bucket: TokenBucket
    var assembler = MessageAssembler()
    /// Events held back while the socket is behind.
    var queue: OutboundQueue<ByteBuffer>

    var role: Role { identity.role }
    var roomList: [String] { memberships.map(\.room) }
    func isMember(of room: String) -> Bool { memberships.contains { $0.room == room } }
    /// True when `chatctl` naming `user` (a `UserTarget`) means this connection.
    func answers(to user: String) -> Bool {
        !echo && UserTarget.matches(user, userKey: identity.userKey, authorKey: authorKey)
    }

    init(
        session: UpgradeGate.Session, address: String, hub: Hub, moderation: Moderation, limits: ClientLimits,
        settings: Settings, deflateWindowBits: Int = 0, backend: BackendClient? = nil
    ) {
        self.backend = backend
        self.deflateWindowBits = deflateWindowBits
        self.limits = limits
        self.moderation = moderation
        identity = session.identity
        authorKey = session.identity.authorKey
        self.address = address
        credential = session.credential
        since = session.since
        name = session.name
        primaryRoom = session.room
        echo = session.echo
        self.hub = hub
        self.settings = settings
        bucket = TokenBucket(
            capacity: settings.rateMessages, windowNanoseconds: settings.rateWindowNanoseconds,
            now: NIODeadline.now().uptimeNanoseconds)
        queue = OutboundQueue(limit: settings.sendQueueFrames)
        let bounds = ConnectionBounds(
            sendBufferHigh: settings.sendBuffer.high, maxFrameBytes: settings.maxFrameBytes,
            rateMessages: settings.rateMessages)
        self.bounds = bounds
        intake = RequestIntake(bound: bounds.waiting, strikesAllowed: bounds.strikesAllowed)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        self.context = nil
    }

    func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        hub.connections.add(1, ordering: .relaxed)
        hub.metrics.connections.increment(by: 1)
        limits.opened(address: address)
        shardIndex = hub.shardIndex(of: context.eventLoop)
        hub.shards[shardIndex].shard.value.register(self)
        scheduleExpiry()
        if echo { return }
        // Banned after the upgrade's check, before this registration: the ban's kick did not
        // find this session, so it is found here (the ban is held before the kick runs).
        if moderation.isBanned(userKey: identity.userKey, authorKey: authorKey) {
            return close(code: .policyViolation, reason: Moderation.banReason)
        }
        send(.system(message: "connected as \(name)", clientId: id, role: role.rawValue), flush: false)
        carryOut(plan(.join(room: primaryRoom, since: since)), announce: false)
        hub.shards[shardIndex].shard.value.ensureHeartbeat(intervalNanoseconds: settings.pingIntervalNanoseconds)
    }

    func finish() {
        guard started else { return }
        started = false
        expiry?.cancel()
        expiry = nil
        hardClose?.cancel()
        hardClose = nil
        hub.connections.subtract(1, ordering: .relaxed)
        hub.metrics.connections.decrement(by: 1)
        limits.closed(address: address)
        hub.shards[shardIndex].shard.value.unregister(self)
        for member in memberships { hub.leave(member, shardIndex: shardIndex) }
        memberships.removeAll()
    }

    // MARK: Rooms

    /// Joins `room`; the plan made the checks a join needs. `announce` sends `joined` first
    /// (a join request, not the upgrade room, whose welcome the article defines).
    func enter(_ room: String, since: UInt64?, rule: RoomRule, announce: Bool) {
        let member = Membership(session: self, room: room)
        member.slowConsumer = rule.slowConsumer
        // Usually answered before `join` returns; when the room or the resume must be read
        // from the store first, later requests wait behind it, as behind a history read.
        var answered = false
        var inline = true
        hub.join(
            member, shardIndex: shardIndex, since: since, maxMembers: rule.maxMembers, maxRooms: settings.maxRooms,
            historyWindow: settings.historyWindow, resumeLimit: settings.resumeLimit
        ) { [self] result in
            answered = true
            if !inline { awaitingStore = false }
            joined(member, result, announce: announce)
            if !inline, let context { resumeReadingIfDue(context) }
        }
        inline = false
        if !answered { awaitingStore = true }
    }

    func joined(_ member: Membership, _ result: Result<Hub.Welcome, ErrorCode>, announce: Bool) {
        let welcome: Hub.Welcome
        switch result {
        case let .success(joined): welcome = joined
        case let .failure(code): return refuse(code)
        }
        // Closed while the store was read: the room must not keep a member nobody serves.
        guard started else { return hub.leave(member, shardIndex: shardIndex) }
        // A reload while the store was read may have taken the room away from this identity.
        if let denied = Authorization.join(identity, room: member.room, rule: settings.rules.rule(for: member.room)) {
            hub.leave(member, shardIndex: shardIndex)
            return refuse(denied)
        }
        memberships.append(member)
        if announce { send(.joined(room: member.room), flush: false) }
        let history = ServerEvent.history(room: member.room, messages: welcome.messages, recovered: welcome.recovered)
        if let generation = welcome.window, let room = member.entered {
            sendWelcome(history, room: room, generation: generation)
        } else {
            send(history, flush: true)
        }
        tellUnread(member)
    }

    func leave(_ room: String, reason: String) {
        guard let index = memberships.firstIndex(where: { $0.room == room }) else { return refuse(.notJoined) }
        let member = memberships.remove(at: index)
        hub.leave(member, shardIndex: shardIndex)
        send(.left(room: room, reason: reason), flush: true)
    }

    // MARK: Reload

    /// Applies reloaded settings; returns true when the session's credential was revoked
    /// (it is then closed with 1008). Rooms the credential or a rule no longer allows are left.
    func applyReload(_ new: Settings) -> Bool {
        let now = NIODeadline.now().uptimeNanoseconds
        let old = settings
        settings = new
        bucket.reconfigure(capacity: new.rateMessages, windowNanoseconds: new.rateWindowNanoseconds, now: now)
        queue.limit = new.sendQueueFrames
        bounds.reconfigure(sendBufferHigh: new.sendBuffer.high, maxFrameBytes: new.maxFrameBytes, rateMessages: new.rateMessages)
        boundsChanged()
        // The water marks are the channel's: set them on open connections too.
        if let channel = context?.channel { try? channel.syncOptions?.setOption(.writeBufferWaterMark, value: new.sendBuffer) }
        for member in memberships { member.slowConsumer = new.rules.rule(for: member.room).slowConsumer }
        // The notice's lead may have changed.
        if new.refreshAheadSeconds != old.refreshAheadSeconds { scheduleExpiry() }
        if proxied {
            // The backend vouched for this session at the upgrade; it stands while chatd
            // still asks that backend, and the new rules apply to it.
            guard !new.connectURL.isEmpty else {
                close(code: .policyViolation, reason: "credential revoked")
                return true
            }
            reidentify(identity)
        } else if let identity = new.authenticator.staticIdentity(credential) {
            reidentify(identity)
        } else if new.authenticator.mayBeJWT(credential), let loop = context?.eventLoop {
            // A JWT is verified again against the new key, issuer and audience.
            let this = NIOLoopBound(self, eventLoop: loop)
            let (authenticator, credential) = (new.authenticator, credential)
            let promise = loop.makePromise(of: Result<Identity, AuthFailure>.self)
            promise.completeWithTask { await authenticator.identify(credential) }
            promise.futureResult.whenSuccess { result in
                // A refresh accepted meanwhile replaced the credential this verdict is about
                // (and was checked against these settings, or is being checked again).
                guard this.value.credential == credential else { return }
                switch result {
                case let .success(identity): this.value.reidentify(identity)
                case .failure: this.value.close(code: .policyViolation, reason: "credential revoked")
                }
            }
        } else {
            close(code: .policyViolation, reason: "credential revoked")
            return true
        }
        return false
    }

    func reidentify(_ fresh: Identity) {
        let expiresAt = identity.expiresAt
        identity = ReloadEffects.identity(fresh, chosenName: name)
        // A reload may move the end (`auth.jwt.leeway_seconds`).
        if identity.expiresAt != expiresAt { scheduleExpiry() }
        for room in ReloadEffects.roomsToLeave(roomList, identity: identity, rules: settings.rules) {
            leave(room, reason: "forbidden")
        }
    }

    /// A credential with an expiry (JWT `exp`) ends the session then, with 1008; the client
    /// is told `auth.jwt.refresh_ahead_seconds` before, so that it can `refresh`. Set again
    /// when a refresh or a reload changes the expiry or the notice's lead.
    func scheduleExpiry() {
        expiry?.cancel()
        expiry = nil
        guard let context, !closing else { return }
        guard
            let (delay, step) = TokenRefresh.next(
                expiresAt: identity.expiresAt, now: Date().timeIntervalSince1970, aheadSeconds: proxied ? 0 : settings.refreshAheadSeconds,
                noticed: expiryNoticed)
        else { return }
        // Whole milliseconds; the delay is below TokenRefresh.longestWaitSeconds.
        expiry = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [self] in
            expiry = nil
            switch step {
            case .end:
                close(code: .policyViolation, reason: "credential expired")
            case .notice:
                expiryNoticed = true
                if let expiresAt = identity.expiresAt {
                    send(.expiring(seconds: TokenRefresh.secondsLeft(expiresAt: expiresAt, now: Date().timeIntervalSince1970)), flush: true)
                }
                scheduleExpiry()
            }
        }
    }

    // MARK: Heartbeat

    /// Called by the loop shard's one heartbeat timer, every interval, as the article's
    /// `setInterval` over all clients: a connection that has not answered the previous ping
    /// by now is terminated; the others are pinged. (One timer per loop, not one per
    /// connection: idle connections cost less memory.)
    func heartbeatTick() {
        guard let context, started, !echo, !closing else { return }
        var generator = SystemRandomNumberGenerator()
        switch heartbeat.tick(random: { generator.next() }) {
        case .terminate:
            context.close(promise: nil)
        case let .ping(payload):
            writeFrame(ServerFrame.encode(opcode: .ping, payload: payload, allocator: context.channel.allocator), flush: true)
        }
    }

    func receivedPong(_ payload: ByteBuffer) {
        heartbeat.pong(payload.readableBytesView)
        if controlFrames.pong(strikesAllowed: bounds.strikesAllowed) {
            close(code: .policyViolation, reason: "too many messages: slow down")
        }
    }

    // Stored here, used by the inbound and outbound extensions (ChatSession+Inbound.swift,
    // ChatSession+Outbound.swift).

    /// What this connection may owe and send past its quota (from its settings).
    var bounds: ConnectionBounds

    /// Requests that arrived while the socket was behind or a store read was outstanding.
    var intake: RequestIntake<ByteBuffer>

    /// The intake's bounds follow the connection's (a reload, a new largest reply).
    func boundsChanged() {
        intake.bound = bounds.waiting
        intake.strikesAllowed = bounds.strikesAllowed
    }

    /// The session's messages and edits handed to the hub and not yet stored (or failed): a
    /// close waits for them, so that their sender is sent them first (found by review).
    var publishesInFlight = 0
    /// The `nonce` of the request being answered: its errors repeat it. Requests answered
    /// later without holding the next ones (deletes, refreshes, messages without a nonce)
    /// keep their own copy instead.
    var answering: String?
    /// When this connection was last answered `members` (uptime ns; 0: never).
    var membersAnsweredAt: UInt64 = 0
    /// `members` refused since the last one answered (`MemberList.refusalsBeforeClose`).
    var membersRefused = 0

    /// This connection's writes of read positions (`markRead`).
    var readWrites = ReadWrites()

    // The small fields last, together: a class is laid out in declaration order, and each of
    // these between two 8-byte fields cost 7 bytes of padding in every idle connection.

    /// The client's last sequence number when it resumes (`since`).
    let since: UInt64?
    let echo: Bool
    var started = false
    var closing = false
    /// True between the first frame of a read pass and its end: replies written meanwhile
    /// are flushed once, at the end (one write to the socket per read, not per reply).
    var inReadPass = false
    var flushAfterRead = false
    /// A read held back while the socket is behind or a request waits: a client that does not
    /// read stops being read, so its requests cannot make replies pile up (TCP pushes back).
    var readPending = false
    /// Set while the loop shard owes this session a flush.
    var awaitingFlush = false
    /// True while a request waits for the history store: later requests wait behind it, so
    /// answers keep the order of the requests, and nothing more is read meanwhile.
    var awaitingStore = false {
        didSet {
            guard !awaitingStore, !deferredWebhookEvents.isEmpty else { return }
            let events = deferredWebhookEvents
            deferredWebhookEvents = []
            hub.webhookEvents?.add(events)
        }
    }
}
