import ChatCore
import Crypto
import Foundation
import NIOCore
import NIOWebSocket

/// One WebSocket connection after the upgrade: frames in, chat events out. Lives on its
/// channel's event loop; the hub reaches it only through its loop's `LoopShard`.
final class ChatSession: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame

    let id = UUID().uuidString.lowercased()
    let name: String
    let room: String
    let echo: Bool
    /// The client's last sequence number when it resumes (`since`).
    let since: UInt64?
    /// The token presented at the upgrade; a reload that drops it closes the session.
    let credential: String
    let address: String
    let connectedAt = NIODeadline.now()
    /// Position in the loop shard's member list (-1 when not a member).
    var slot = -1
    /// The room's broadcast epoch when this session joined; older deliveries skip it.
    var joinEpoch: UInt64 = 0

    private let hub: Hub
    private let moderation: Moderation
    private let limits: ClientLimits
    /// The author key of this session's messages: its credential (hashed) and its name, so
    /// that only the same token and name may delete them as their author.
    let authorKey: String
    private(set) var role: Role
    private var settings: Settings
    private let sink: FrameSink
    private var context: ChannelHandlerContext?
    private var shardIndex = 0
    private var started = false
    private var joined = false
    private var closing = false
    private var awaitingPong = false
    private var heartbeat: Scheduled<Void>?
    private var bucket: TokenBucket
    private var assembler: MessageAssembler

    init(session: UpgradeGate.Session, address: String, hub: Hub, moderation: Moderation, limits: ClientLimits,
         settings: Settings, sink: FrameSink) {
        self.sink = sink
        self.limits = limits
        self.moderation = moderation
        role = session.role
        authorKey = Self.authorKey(credential: session.credential, name: session.name)
        self.address = address
        credential = session.credential
        since = session.since
        name = session.name
        room = session.room
        echo = session.echo
        self.hub = hub
        self.settings = settings
        bucket = TokenBucket(capacity: settings.rateMessages, windowNanoseconds: settings.rateWindowNanoseconds,
                             now: NIODeadline.now().uptimeNanoseconds)
        assembler = MessageAssembler(maxBytes: settings.maxFrameBytes, maxFragments: settings.maxFragments)
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
        if echo { return }
        send(.system(message: "connected as \(name)", clientId: id), flush: false)
        let welcome = hub.join(self, shardIndex: shardIndex, historyWindow: settings.historyWindow,
                               resumeLimit: settings.resumeLimit)
        joined = true
        send(.history(messages: welcome.messages, recovered: welcome.recovered), flush: true)
        scheduleHeartbeat(context: context)
    }

    private func finish() {
        guard started else { return }
        started = false
        heartbeat?.cancel()
        heartbeat = nil
        hub.connections.subtract(1, ordering: .relaxed)
        hub.metrics.connections.decrement(by: 1)
        limits.closed(address: address)
        hub.shards[shardIndex].shard.value.unregister(self)
        if joined {
            joined = false
            hub.leave(self, shardIndex: shardIndex)
        }
    }

    // MARK: Reload

    /// Applies reloaded settings; returns true when the session's credential was revoked
    /// (it is then closed with 1008).
    func apply(_ new: Settings) -> Bool {
        let now = NIODeadline.now().uptimeNanoseconds
        settings = new
        bucket.reconfigure(capacity: new.rateMessages, windowNanoseconds: new.rateWindowNanoseconds, now: now)
        assembler.maxBytes = new.maxFrameBytes
        assembler.maxFragments = new.maxFragments
        guard let newRole = new.gate.role(of: credential) else {
            close(code: .policyViolation, reason: "credential revoked")
            return true
        }
        role = newRole
        return false
    }

    // MARK: Heartbeat

    /// Pings every interval; a connection that has not answered the previous ping by the
    /// next tick is terminated, as the article's heartbeat does.
    private func scheduleHeartbeat(context: ChannelHandlerContext) {
        let interval = TimeAmount.nanoseconds(settings.pingIntervalNanoseconds)
        heartbeat = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { [self] in
            self.heartbeatTick()
        }
    }

    private func heartbeatTick() {
        guard let context, started else { return }
        if awaitingPong {
            context.close(promise: nil)
            return
        }
        awaitingPong = true
        sink.write(ServerFrame.encode(opcode: .ping, payload: [UInt8](), allocator: context.channel.allocator), flush: true)
        scheduleHeartbeat(context: context)
    }

    // MARK: Outbound

    /// A pre-encoded broadcast frame from the loop shard.
    /// Returns false when the session is closing and took nothing.
    @discardableResult
    func deliver(_ frame: ByteBuffer) -> Bool {
        guard !closing else { return false }
        sink.write(frame, flush: true)
        return true
    }

    private func send(_ event: ServerEvent, flush: Bool) {
        guard let context, !closing else { return }
        let frame = ServerFrame.text(event.jsonBytes(), allocator: context.channel.allocator)
        sink.write(frame, flush: flush)
    }

    private func sendError(_ code: ErrorCode) {
        send(.error(code: code, message: code.message(maxChars: settings.maxMessageChars)), flush: true)
    }

    /// Sends a close frame and closes the TCP connection once it is written.
    func close(code: CloseCode, reason: String) {
        close(rawCode: code.rawValue, reason: reason)
    }

    private func close(rawCode: UInt16, reason: String) {
        guard let context, !closing else { return }
        closing = true
        let channel = context.channel
        let promise = context.eventLoop.makePromise(of: Void.self)
        sink.write(ServerFrame.close(code: rawCode, reason: reason, allocator: channel.allocator), flush: true, promise: promise)
        // Half-close first: closing a socket with unread input makes the kernel send RST,
        // which can destroy the close frame before the client reads it. The client answers
        // and closes; if it does not, the connection is closed a moment later.
        promise.futureResult.whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !closing else { return }
        if let (code, reason) = MessageAssembler.validate(frame) {
            close(code: code, reason: reason)
            return
        }
        switch frame.opcode {
        case .ping:
            let pong = ServerFrame.encode(opcode: .pong, buffer: frame.unmaskedData, allocator: context.channel.allocator)
            sink.write(pong, flush: true)
        case .pong:
            awaitingPong = false
        case .connectionClose:
            receivedClose(frame.unmaskedData)
        default:
            switch assembler.feed(frame) {
            case .none:
                break
            case let .fail(code, reason):
                close(code: code, reason: reason)
            case let .binary(data):
                if echo {
                    sink.write(ServerFrame.encode(opcode: .binary, buffer: data, allocator: context.channel.allocator), flush: true)
                } else {
                    close(code: .unsupportedData, reason: "text messages only")
                }
            case let .text(data):
                if echo {
                    sink.write(ServerFrame.encode(opcode: .text, buffer: data, allocator: context.channel.allocator), flush: true)
                } else {
                    handleText(data)
                }
            }
        }
    }

    /// The article's order: every text frame costs quota, then it is parsed and checked.
    private func handleText(_ data: ByteBuffer) {
        let now = NIODeadline.now().uptimeNanoseconds
        guard bucket.consume(now: now), limits.allowMessage(address: address, user: authorKey, settings: settings, now: now) else {
            hub.metrics.rateLimited.increment()
            sendError(.rateLimited)
            return
        }
        switch ClientCommand.decode(data.readableBytesView, maxChars: settings.maxMessageChars) {
        case let .failure(code):
            hub.metrics.errors(code.rawValue).increment()
            sendError(code)
        case .success(.ping):
            send(.pong, flush: true)
        case let .success(.catchUp(since)):
            let welcome = hub.catchUp(room: room, since: since, historyWindow: settings.historyWindow, limit: settings.resumeLimit)
            send(.history(messages: welcome.messages, recovered: welcome.recovered), flush: true)
        case let .success(.history(before, limit)):
            let messages = hub.older(room: room, before: before ?? UInt64.max, limit: limit)
            // `before` is echoed (or, for "the newest", one past the last returned) so that a
            // page of older messages is told apart from the welcome.
            send(.history(messages: messages, before: before ?? ((messages.last?.seq ?? 0) + 1)), flush: true)
        case let .success(.message(text)):
            if moderation.isMuted(name) {
                hub.metrics.errors(ErrorCode.muted.rawValue).increment()
                sendError(.muted)
                return
            }
            hub.publish(room: room, from: name, text: text, author: authorKey, historyWindow: settings.historyWindow)
        case let .success(.delete(seq)):
            requestDelete(seq: seq)
        }
    }

    /// Moderators delete any message of their room; an author their own, within the window.
    private func requestDelete(seq: UInt64) {
        let isModerator = role == .moderator
        let author = authorKey
        let window = settings.authorDeleteSeconds
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let actor = "\(name) (\(role.rawValue), connection \(id))"
        let (room, moderation, loop) = (self.room, self.moderation, context!.eventLoop)
        let this = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: Moderation.Outcome.self)
        promise.completeWithTask {
            await moderation.delete(room: room, seq: seq, actor: actor, reason: isModerator ? "moderator" : "author") { message in
                isModerator || (window > 0 && message.author == author
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

    static func authorKey(credential: String, name: String) -> String {
        let digest = SHA256.hash(data: Data(credential.utf8))
        return digest.prefix(12).map { String(format: "%02x", $0) }.joined() + ":" + name
    }

    /// Answers a client's close with the same code (RFC 6455 5.5.1), or with 1002/1007 when
    /// the close frame itself is malformed.
    private func receivedClose(_ payload: ByteBuffer) {
        var payload = payload
        guard payload.readableBytes > 0 else {
            close(rawCode: CloseCode.normal.rawValue, reason: "")
            return
        }
        guard payload.readableBytes >= 2, let code = payload.readInteger(as: UInt16.self) else {
            close(code: .protocolError, reason: "malformed close frame")
            return
        }
        guard Self.isValidReceivedCloseCode(code) else {
            close(code: .protocolError, reason: "invalid close code")
            return
        }
        guard String(validating: payload.readableBytesView, as: UTF8.self) != nil else {
            close(code: .invalidPayload, reason: "close reason is not valid UTF-8")
            return
        }
        close(rawCode: code, reason: "")
    }

    static func isValidReceivedCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
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
