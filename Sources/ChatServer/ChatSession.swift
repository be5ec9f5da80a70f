// Over 400 lines: one NIO handler holds the session protocol's decisions and their effects
// together. Issue 14 item 2 moves the decisions into a NIO-free state machine in ChatCore and
// leaves a thin adapter here; splitting the handler by extension first would only move them.
import ChatAuth
import ChatCore
import Foundation
import NIOCore
import NIOWebSocket

/// One WebSocket connection after the upgrade: frames in, chat events out. Lives on its
/// channel's event loop; the hub reaches it only through its loop's `LoopShard`.
final class ChatSession: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    /// Nothing is written through this handler (frames go through the `FrameSink`); it is
    /// outbound only to hold back `read()` while the client is not reading.
    typealias OutboundIn = Never

    let id = UUID().uuidString.lowercased()
    let name: String
    /// The room named at the upgrade: commands that name no room mean it.
    let primaryRoom: String
    let echo: Bool
    /// The client's last sequence number when it resumes (`since`).
    let since: UInt64?
    /// The token presented at the upgrade; reloads re-check it, so a revoked one closes.
    let credential: String
    let address: String
    let connectedAt = NIODeadline.now()
    /// The rooms this connection is in, in the order joined.
    private var memberships: [Membership] = []

    private let hub: Hub
    private let moderation: Moderation
    private let limits: ClientLimits
    /// The author key of this session's messages and its per-user rate limit: the
    /// credential's user, and for shared plain tokens also the chosen name.
    let authorKey: String
    private(set) var identity: Identity
    private var settings: Settings
    private let sink: FrameSink
    private var context: ChannelHandlerContext?
    private var shardIndex = 0
    private var started = false
    private var closing = false
    private var heartbeat = Heartbeat()
    /// Pings and pongs of this read pass (`ControlFrameBudget`); the newest ping not answered
    /// at once is answered at the end of the pass.
    private var controlFrames = ControlFrameBudget()
    private var deferredPong: ByteBuffer?
    /// True between the first frame of a read pass and its end: replies written meanwhile
    /// are flushed once, at the end (one write to the socket per read, not per reply).
    private var inReadPass = false
    private var flushAfterRead = false
    /// Reads are held back while the socket is behind: a client that does not read stops
    /// being read, so its requests cannot make replies pile up (TCP pushes back on it).
    private var readPaused = false
    private var readPending = false
    private var hardClose: Scheduled<Void>?
    private var expiry: Scheduled<Void>?
    private var bucket: TokenBucket
    private var assembler: MessageAssembler
    /// Events held back while the socket is behind.
    private var queue: OutboundQueue<ByteBuffer>

    var role: Role { identity.role }
    var roomList: [String] { memberships.map(\.room) }
    func isMember(of room: String) -> Bool { memberships.contains { $0.room == room } }
    /// True when `chatctl` naming `user` (a `UserTarget`) means this connection.
    func answers(to user: String) -> Bool {
        !echo && UserTarget.matches(user, userKey: identity.userKey, authorKey: authorKey)
    }

    init(
        session: UpgradeGate.Session, address: String, hub: Hub, moderation: Moderation, limits: ClientLimits,
        settings: Settings, sink: FrameSink
    ) {
        self.sink = sink
        self.limits = limits
        self.moderation = moderation
        identity = session.identity
        authorKey = session.identity.guestNames ? "\(session.identity.userKey):\(session.name)" : session.identity.userKey
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
        assembler = MessageAssembler(maxBytes: settings.maxFrameBytes, maxFragments: settings.maxFragments)
        queue = OutboundQueue(limit: settings.sendQueueFrames)
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

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        hub.connections.add(1, ordering: .relaxed)
        hub.metrics.connections.increment(by: 1)
        limits.opened(address: address)
        shardIndex = hub.shardIndex(of: context.eventLoop)
        hub.shards[shardIndex].shard.value.register(self)
        scheduleExpiry(context: context)
        if echo { return }
        send(.system(message: "connected as \(name)", clientId: id), flush: false)
        carryOut(plan(.join(room: primaryRoom, since: since)), announce: false)
        hub.shards[shardIndex].shard.value.ensureHeartbeat(intervalNanoseconds: settings.pingIntervalNanoseconds)
    }

    private func finish() {
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
    private func enter(_ room: String, since: UInt64?, rule: RoomRule, announce: Bool) {
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

    private func joined(_ member: Membership, _ result: Result<Hub.Welcome, ErrorCode>, announce: Bool) {
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
        send(.history(room: member.room, messages: welcome.messages, recovered: welcome.recovered), flush: true)
    }

    private func leave(_ room: String, reason: String) {
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
        settings = new
        bucket.reconfigure(capacity: new.rateMessages, windowNanoseconds: new.rateWindowNanoseconds, now: now)
        assembler.maxBytes = new.maxFrameBytes
        assembler.maxFragments = new.maxFragments
        queue.limit = new.sendQueueFrames
        // The water marks are the channel's: set them on open connections too.
        if let channel = context?.channel { try? channel.syncOptions?.setOption(.writeBufferWaterMark, value: new.sendBuffer) }
        for member in memberships { member.slowConsumer = new.rules.rule(for: member.room).slowConsumer }
        if let identity = new.authenticator.staticIdentity(credential) {
            reidentify(identity)
        } else if new.authenticator.mayBeJWT(credential), let loop = context?.eventLoop {
            // A JWT is verified again against the new key, issuer and audience.
            let this = NIOLoopBound(self, eventLoop: loop)
            let (authenticator, credential) = (new.authenticator, credential)
            let promise = loop.makePromise(of: Result<Identity, AuthFailure>.self)
            promise.completeWithTask { await authenticator.identify(credential) }
            promise.futureResult.whenSuccess { result in
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

    private func reidentify(_ fresh: Identity) {
        identity = ReloadEffects.identity(fresh, chosenName: name)
        for room in ReloadEffects.roomsToLeave(roomList, identity: identity, rules: settings.rules) {
            leave(room, reason: "forbidden")
        }
    }

    /// A credential with an expiry (JWT `exp`) ends the session then, with 1008.
    private func scheduleExpiry(context: ChannelHandlerContext) {
        guard let expiresAt = identity.expiresAt else { return }
        // An `exp` far in the future (a signed 1e16 is valid JSON) must not overflow the
        // timer: past ten years it is as good as never, and the session is not timed.
        let seconds = expiresAt - Date().timeIntervalSince1970
        if seconds >= Self.longestExpirySeconds { return }
        // Not a positive number (NaN included): expired now.
        let milliseconds = seconds > 0 ? Int64(seconds * 1000) : 0
        expiry = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) { [self] in
            self.close(code: .policyViolation, reason: "credential expired")
        }
    }

    static let longestExpirySeconds: Double = 10 * 365 * 86400

    /// Refused frames in a row before a connection is closed: twice its burst, at least 40.
    static func strikesAllowed(rateMessages: Int) -> Int {
        max(40, rateMessages > Int.max / 2 ? Int.max : rateMessages * 2)
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
            sink.write(ServerFrame.encode(opcode: .ping, payload: payload, allocator: context.channel.allocator), flush: true)
        }
    }

    private func receivedPong(_ payload: ByteBuffer) {
        heartbeat.pong(payload.readableBytesView)
        if controlFrames.pong(strikesAllowed: Self.strikesAllowed(rateMessages: settings.rateMessages)) {
            close(code: .policyViolation, reason: "too many messages: slow down")
        }
    }

    // MARK: Outbound

    enum Delivery {
        case written
        /// Held back (the connection is behind); `dropped` older frames made room.
        case queued(dropped: Int)
        /// Closed for falling behind in a `disconnect` room.
        case disconnected
        /// Closing already; nothing taken.
        case closed
    }

    /// Set while the loop shard owes this session a flush.
    var awaitingFlush = false

    /// A pre-encoded broadcast frame from the loop shard, written but not flushed (the shard
    /// flushes once per loop pass). A connection that is behind — more than
    /// `limits.send_buffer_bytes` unsent, or events already held back — gets its room's
    /// slow-consumer rule.
    func deliver(_ frame: ByteBuffer, member: Membership) -> Delivery {
        guard !closing, let context else { return .closed }
        if !context.channel.isWritable && awaitingFlush {
            // Unflushed writes of this loop pass count against the buffer too: hand them to
            // the socket before judging the connection slow.
            flushNow()
        }
        let writable = context.channel.isWritable
        switch queue.deliver(frame, bytes: frame.readableBytes, room: member.room, policy: member.slowConsumer, writable: writable) {
        case .write:
            sink.write(frame, flush: false)
            return .written
        case let .queued(dropped):
            return .queued(dropped: dropped)
        case .disconnect:
            close(code: .tryAgainLater, reason: "too slow: reconnect and resume with since")
            return .disconnected
        }
    }

    func flushNow() {
        awaitingFlush = false
        sink.context?.flush()
    }

    /// Writes what was held back, the missed counts first, while the socket takes it; then
    /// reads again if a read was held back.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && !queue.isEmpty && !closing {
            for (room, count) in queue.takeMissed() {
                sink.write(
                    ServerFrame.text(ServerEvent.missed(room: room, count: count).jsonBytes(), allocator: context.channel.allocator),
                    flush: false)
            }
            while context.channel.isWritable, let frame = queue.popFirst() { sink.write(frame, flush: false) }
            sink.context?.flush()
        }
        resumeReadingIfDue(context)
        context.fireChannelWritabilityChanged()
    }

    /// While more than `limits.send_buffer_bytes` are unsent, chatd reads nothing more from
    /// this client: what it already sent is answered, nothing new is taken in.
    func read(context: ChannelHandlerContext) {
        if !closing && (!context.channel.isWritable || intake.hasWaiting || awaitingStore) {
            readPending = true
            return
        }
        context.read()
    }

    /// Replies to this client go behind anything held back, so it sees events in order;
    /// they are never dropped, but they count against the connection's outbound bound.
    private func send(_ event: ServerEvent, flush: Bool) {
        guard let context, !closing, !exceedsOutboundBound(context) else { return }
        let frame = ServerFrame.text(event.jsonBytes(), allocator: context.channel.allocator)
        largestReply = max(largestReply, frame.readableBytes)
        if queue.isEmpty {
            if flush && inReadPass {
                flushAfterRead = true
                sink.write(frame, flush: false)
            } else {
                sink.write(frame, flush: flush)
            }
        } else {
            _ = queue.append(frame, bytes: frame.readableBytes, room: nil, droppable: false)
        }
    }

    /// The most a connection may owe its client — unsent bytes in the channel plus replies
    /// held back — before it is closed: four send buffers, plus its largest reply so far (one
    /// resume of `resume_limit` messages may alone be bigger than four send buffers, and a
    /// client reading it must not be closed for an error reply meanwhile). Requests are only
    /// answered while under one send buffer, so what can push past it is replies that come
    /// later (a failed store write, a refused delete); a client that never reads gets there
    /// and is closed (1008) instead of growing chatd's memory.
    private var outboundBound: Int {
        let (product, overflow) = settings.sendBuffer.high.multipliedReportingOverflow(by: 4)
        return Self.saturatingSum(overflow ? Int.max : product, largestReply)
    }

    private var largestReply = 0

    static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// True (and the connection closing) when it owes its client more than `outboundBound`.
    private func exceedsOutboundBound(_ context: ChannelHandlerContext) -> Bool {
        // Writable means under one send buffer: no need to look closer.
        guard !context.channel.isWritable else { return false }
        let buffered = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        guard buffered + queue.replyBytes > outboundBound else { return false }
        hub.metrics.slowDisconnects.increment()
        close(code: .policyViolation, reason: "not reading: too much unsent")
        return true
    }

    /// Answers a ping with its payload, or leaves it for the end of the read pass.
    private func answerPing(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        guard !closing else { return }
        let strikesAllowed = Self.strikesAllowed(rateMessages: settings.rateMessages)
        switch controlFrames.ping(writable: context.channel.isWritable, strikesAllowed: strikesAllowed) {
        case .now:
            sink.write(ServerFrame.encode(opcode: .pong, buffer: payload, allocator: context.channel.allocator), flush: false)
            flushAfterRead = true
        case .atEndOfRead:
            // A copy: the payload is a slice of the read buffer, which it would keep alive.
            deferredPong = ByteBuffer(bytes: payload.readableBytesView)
        case .close:
            close(code: .policyViolation, reason: "too many messages: slow down")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let payload = deferredPong, !closing {
            sink.write(ServerFrame.encode(opcode: .pong, buffer: payload, allocator: context.channel.allocator), flush: false)
            flushAfterRead = true
        }
        deferredPong = nil
        controlFrames.endOfRead()
        inReadPass = false
        if flushAfterRead {
            flushAfterRead = false
            sink.context?.flush()
        }
        context.fireChannelReadComplete()
    }

    private func sendError(_ code: ErrorCode) {
        send(.error(code: code, message: code.message(maxChars: settings.maxMessageChars)), flush: true)
    }

    /// An action refused: counted by code, answered with an error event.
    private func refuse(_ code: ErrorCode) {
        hub.metrics.errors(code.rawValue).increment()
        sendError(code)
    }

    /// Sends a close frame and closes the TCP connection at most `closeGrace` later.
    func close(code: CloseCode, reason: String) {
        close(rawCode: code.rawValue, reason: reason)
    }

    /// How long a closing connection has to finish the closing handshake: counted from when
    /// closing starts, so a client that reads nothing cannot hold it open behind its unsent
    /// data (the close frame may never reach the socket).
    static let closeGrace = TimeAmount.seconds(2)
    /// Frames a closing connection may still send (messages in flight, its close frame)
    /// before it is closed at once.
    static let framesAllowedWhileClosing = 1024
    private var framesWhileClosing = 0

    private func close(rawCode: UInt16, reason: String) {
        guard let context, !closing else { return }
        closing = true
        let channel = context.channel
        hardClose = context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
        let promise = context.eventLoop.makePromise(of: Void.self)
        sink.write(ServerFrame.close(code: rawCode, reason: reason, allocator: channel.allocator), flush: true, promise: promise)
        // Half-close first: closing a socket with unread input makes the kernel send RST,
        // which can destroy the close frame before the client reads it. The client answers
        // and closes; if it does not, the deadline above closes it.
        promise.futureResult.whenComplete { _ in channel.close(mode: .output, promise: nil) }
        if readPending {
            // Reads were held back; the client's answer must be read now.
            readPending = false
            read(context: context)
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !closing else {
            // Reading goes on while closing only to see the client's answer and FIN; a client
            // still flooding then is closed at once (decoding it would cost the loop for the
            // rest of the grace period). Not at the first frames: with input unread the kernel
            // answers RST, which can destroy the close frame before the client reads it, and a
            // client may well be finishing a message it had started.
            framesWhileClosing += 1
            if framesWhileClosing > Self.framesAllowedWhileClosing { context.close(promise: nil) }
            return
        }
        inReadPass = true
        if let (code, reason) = MessageAssembler.validate(frame) {
            close(code: code, reason: reason)
            return
        }
        switch frame.opcode {
        case .ping:
            answerPing(frame.unmaskedData, context: context)
        case .pong:
            receivedPong(frame.unmaskedData)
        case .connectionClose:
            receivedClose(frame.unmaskedData)
        default:
            switch assembler.feed(frame) {
            case .none:
                break
            case let .fail(code, reason):
                close(code: code, reason: reason)
            case let .binary(data):
                guard echo else { return close(code: .unsupportedData, reason: "text messages only") }
                if !exceedsOutboundBound(context) {
                    sink.write(ServerFrame.encode(opcode: .binary, buffer: data, allocator: context.channel.allocator), flush: true)
                }
            case let .text(data):
                guard echo else { return takeRequest(data, context: context) }
                if !exceedsOutboundBound(context) {
                    sink.write(ServerFrame.encode(opcode: .text, buffer: data, allocator: context.channel.allocator), flush: true)
                }
            }
        }
    }

    /// A request costs quota as it arrives, then is answered now if the socket keeps up and
    /// no store read is outstanding; otherwise it waits, in order (reads have stopped by
    /// then, so what waits is at most what one read pass brought). A legitimate client that
    /// asks for two big histories in a row is served both, at the pace it reads them; one
    /// that never reads is never answered past one send buffer.
    private func takeRequest(_ data: ByteBuffer, context: ChannelHandlerContext) {
        let now = NIODeadline.now().uptimeNanoseconds
        let admitted = bucket.consume(now: now) && limits.allowMessage(address: address, user: authorKey, settings: settings, now: now)
        if !admitted { hub.metrics.rateLimited.increment() }
        intake.bound = heldBound
        intake.strikesAllowed = Self.strikesAllowed(rateMessages: settings.rateMessages)
        let answerable = context.channel.isWritable && !awaitingStore
        perform(intake.received(data, bytes: data.readableBytes, admitted: admitted, answerable: answerable))
    }

    private func perform(_ action: RequestIntake<ByteBuffer>.Action) {
        switch action {
        case let .handle(data): handleRequest(data)
        case .refuseRateLimited: sendError(.rateLimited)
        case .wait: break
        case .tooManyRequests: close(code: .policyViolation, reason: "too many messages: slow down")
        case .tooMuchWaiting:
            hub.metrics.slowDisconnects.increment()
            close(code: .policyViolation, reason: "not reading: too much unsent")
        }
    }

    /// Requests that arrived while the socket was behind or a store read was outstanding.
    private var intake = RequestIntake<ByteBuffer>(bound: 0, strikesAllowed: 0)
    private var heldBound: Int { Self.saturatingSum(outboundBound, settings.maxFrameBytes) }

    /// Answers waiting requests while the socket keeps up; true when none are left.
    private func answerHeldRequests(context: ChannelHandlerContext) -> Bool {
        guard intake.hasWaiting else { return true }
        inReadPass = true
        while context.channel.isWritable, !closing, !awaitingStore, let action = intake.next(bytes: \.readableBytes) {
            perform(action)
        }
        inReadPass = false
        if flushAfterRead {
            flushAfterRead = false
            sink.context?.flush()
        }
        return !intake.hasWaiting
    }

    /// Once the socket keeps up and no store read is outstanding: held requests are answered,
    /// then reading resumes if a read was held back.
    private func resumeReadingIfDue(_ context: ChannelHandlerContext) {
        guard context.channel.isWritable else { return }
        if !closing {
            // Answering a held request may start a store read: reading waits for it too.
            guard answerHeldRequests(context: context), !awaitingStore else { return }
        }
        if readPending {
            readPending = false
            read(context: context)
        }
    }

    /// True while a request waits for the history store: later requests wait behind it, so
    /// answers keep the order of the requests, and nothing more is read meanwhile.
    private var awaitingStore = false

    /// Reads history off the event loop (a store read may take milliseconds, and every other
    /// connection of this loop would wait for it), then answers on it.
    private func answerFromStore(_ read: @escaping @Sendable () async -> ServerEvent) {
        guard let loop = context?.eventLoop else { return }
        awaitingStore = true
        let this = NIOLoopBound(self, eventLoop: loop)
        Task {
            let event = await read()
            loop.execute { this.value.storeAnswered(event) }
        }
    }

    private func storeAnswered(_ event: ServerEvent) {
        awaitingStore = false
        guard let context else { return }
        send(event, flush: true)
        resumeReadingIfDue(context)
    }

    /// A request whose quota was taken (`takeRequest`): parsed, checked, carried out.
    private func handleRequest(_ data: ByteBuffer) {
        let command: ClientCommand
        switch ClientCommand.decode(data.readableBytesView, maxChars: settings.maxMessageChars) {
        case let .failure(code): return refuse(code)
        case let .success(decoded): command = decoded
        }
        carryOut(plan(command), announce: true)
    }

    private func plan(_ command: ClientCommand) -> CommandPlan {
        let session = CommandPlan.Session(
            identity: identity, primaryRoom: primaryRoom, rooms: roomList, maxRooms: settings.maxRoomsPerConnection,
            rules: settings.rules)
        return CommandPlan.plan(command, for: session) { [moderation, identity, authorKey] in
            moderation.isMuted(userKey: identity.userKey, authorKey: authorKey)
        }
    }

    private func carryOut(_ plan: CommandPlan, announce: Bool) {
        switch plan {
        case .pong:
            send(.pong, flush: true)
        case let .alreadyJoined(room):
            send(.joined(room: room), flush: true)
        case let .join(room, since, rule):
            enter(room, since: since, rule: rule, announce: announce)
        case let .leave(room):
            leave(room, reason: "request")
        case let .catchUp(room, since):
            guard let entered = memberships.first(where: { $0.room == room })?.entered else { return }
            let (hub, resumeLimit) = (hub, settings.resumeLimit)
            answerFromStore {
                let welcome = await hub.catchUp(in: entered, since: since, limit: resumeLimit)
                return .history(room: room, messages: welcome.messages, recovered: welcome.recovered)
            }
        case let .history(room, before, limit):
            let hub = hub
            answerFromStore {
                let messages = await hub.older(room: room, before: before ?? UInt64.max, limit: limit)
                // `before` is echoed (or, for "the newest", one past the last returned) so that a
                // page of older messages is told apart from the welcome.
                return .history(room: room, messages: messages, before: before ?? ((messages.last?.seq ?? 0) + 1))
            }
        case let .publish(room, text):
            guard let loop = context?.eventLoop else { return }
            let this = NIOLoopBound(self, eventLoop: loop)
            hub.publish(room: room, from: name, text: text, author: authorKey, historyWindow: settings.historyWindow) { result in
                // The sender is told; a message that reached history reaches it like any other.
                guard case .failure = result else { return }
                loop.execute { this.value.refuse(.unavailable) }
            }
        case let .delete(room, seq, asModerator):
            requestDelete(seq: seq, room: room, isModerator: asModerator)
        case let .refuse(code):
            refuse(code)
        }
    }

    /// Moderators delete any message of their room; an author their own, within the window.
    private func requestDelete(seq: UInt64, room: String, isModerator: Bool) {
        let author = authorKey
        let window = settings.authorDeleteSeconds
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let actor = "\(name) (\(role.rawValue), connection \(id))"
        let (moderation, loop) = (self.moderation, context!.eventLoop)
        let this = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: Moderation.Outcome.self)
        promise.completeWithTask {
            await moderation.delete(room: room, seq: seq, actor: actor, reason: isModerator ? "moderator" : "author") { message in
                isModerator
                    || (window > 0 && message.author == author
                        && Double(now - (Timestamp.milliseconds(iso8601: message.sentAt) ?? 0)) <= window * 1000)
            }
        }
        promise.futureResult.whenSuccess { outcome in
            switch outcome {
            case .deleted: break  // every member, this one included, gets `deleted`
            case .notFound: this.value.sendError(.notFound)
            case .forbidden: this.value.sendError(.forbidden)
            case .failed: this.value.sendError(.notFound)
            }
        }
    }

    /// Answers a client's close with the same code (RFC 6455 5.5.1), or with 1002/1007 when
    /// the close frame itself is malformed.
    private func receivedClose(_ payload: ByteBuffer) {
        let answer = CloseHandshake.answer(toClose: payload.readableBytesView)
        close(rawCode: answer.code, reason: answer.reason)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketError.invalidFrameLength:
            close(code: .messageTooBig, reason: "frame too big")
        case is NIOWebSocketError:
            close(code: .protocolError, reason: "protocol error")
        default:
            context.close(promise: nil)
        }
    }
}
