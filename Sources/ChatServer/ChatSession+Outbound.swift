import ChatAuth
import ChatCore
import Foundation
import NIOCore

/// A session's way out: deliveries from its loop shard, replies, the outbound bound, closing.
extension ChatSession {
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

    /// A pre-encoded broadcast frame from the loop shard, written but not flushed (the shard
    /// flushes once per loop pass). A connection that is behind — more than
    /// `limits.send_buffer_bytes` unsent, or events already held back — gets its room's
    /// slow-consumer rule.
    /// True when nothing waits to be sent: an ephemeral event may be written at once.
    var keepsUp: Bool { !closing && queue.isEmpty && (context?.channel.isWritable ?? false) }

    func deliver(_ frame: ByteBuffer, member: Membership) -> Delivery {
        guard !closing, let context else { return .closed }
        if !context.channel.isWritable && awaitingFlush {
            // Unflushed writes of this loop pass count against the buffer too: hand them to
            // the socket before judging the connection slow.
            flushNow()
        }
        let writable = context.channel.isWritable
        // The common case first, without touching the membership (its room name and rule).
        if writable && queue.isEmpty {
            writeFrame(frame, flush: false)
            return .written
        }
        switch queue.deliver(frame, bytes: frame.readableBytes, room: member.room, policy: member.slowConsumer, writable: writable) {
        case .write:
            writeFrame(frame, flush: false)
            return .written
        case let .queued(dropped):
            return .queued(dropped: dropped)
        case .disconnect:
            close(code: .tryAgainLater, reason: "too slow: reconnect and resume with since")
            return .disconnected
        }
    }

    /// A data frame for this connection: compressed when permessage-deflate was negotiated
    /// and the payload is at least `compression.min_bytes` and shrinks.
    func dataFrame(_ opcode: WebSocketOpcode, _ payload: some Collection<UInt8>, allocator: ByteBufferAllocator) -> ByteBuffer {
        let settings = self.settings.config.compression
        if deflateWindowBits != 0, payload.count >= settings.minBytes,
            let packed = hub.shards[shardIndex].shard.value.compression.deflate(
                ByteBuffer(bytes: payload), windowBits: deflateWindowBits, level: settings.level, allocator: allocator)
        {
            return ServerFrame.encode(opcode: opcode, payload: packed.readableBytesView, compressed: true, allocator: allocator)
        }
        return ServerFrame.encode(opcode: opcode, payload: payload, allocator: allocator)
    }

    /// A broadcast frame (uncompressed, as the hub encodes it) in this connection's form.
    func compressedFrame(_ frame: ByteBuffer, windowBits: Int) -> ByteBuffer {
        let settings = self.settings.config.compression
        let payload = ServerFrame.payload(of: frame)
        guard payload.readableBytes >= settings.minBytes, let context,
            let packed = hub.shards[shardIndex].shard.value.compression.deflate(
                payload, windowBits: windowBits, level: settings.level, allocator: context.channel.allocator)
        else { return frame }
        let opcode = WebSocketOpcode(rawValue: frame.getInteger(at: frame.readerIndex, as: UInt8.self).map { $0 & 0x0F } ?? 1) ?? .text
        return ServerFrame.encode(opcode: opcode, payload: packed.readableBytesView, compressed: true, allocator: context.channel.allocator)
    }

    /// Writes an encoded frame to the socket (this handler is the connection's only one).
    func writeFrame(_ frame: ByteBuffer, flush: Bool, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if flush {
            context.writeAndFlush(wrapOutboundOut(frame), promise: promise)
        } else {
            context.write(wrapOutboundOut(frame), promise: promise)
        }
    }

    func flushNow() {
        awaitingFlush = false
        self.context?.flush()
    }

    /// Writes what was held back, the missed counts first, while the socket takes it; then
    /// reads again if a read was held back.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && !queue.isEmpty && !closing {
            for (room, count) in queue.takeMissed() {
                writeFrame(
                    ServerFrame.text(ServerEvent.missed(room: room, count: count).jsonBytes(), allocator: context.channel.allocator),
                    flush: false)
            }
            while context.channel.isWritable, let frame = queue.popFirst() { writeFrame(frame, flush: false) }
            self.context?.flush()
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
    func send(_ event: ServerEvent, flush: Bool) {
        guard let context, !closing, !exceedsOutboundBound(context) else { return }
        send(frame: dataFrame(.text, event.jsonBytes(), allocator: context.channel.allocator), flush: flush)
    }

    /// A welcome without `since` (the room's window at `generation`), made once per
    /// generation for all such joiners of the room (`WelcomeCache`).
    func sendWelcome(_ event: ServerEvent, room: Room, generation: UInt64) {
        guard let context, !closing, !exceedsOutboundBound(context) else { return }
        let (bits, settings) = (deflateWindowBits, self.settings)
        if let cached = room.lock.withLock({ room.welcome.frame(generation: generation, bits: bits, settings: settings) }) {
            return send(frame: cached, flush: true)
        }
        // Made outside the lock: compressing takes long enough to hold up the room's publishers.
        let frame = dataFrame(.text, event.jsonBytes(), allocator: context.channel.allocator)
        room.lock.withLock { room.welcome.offer(frame, generation: generation, bits: bits, settings: settings) }
        send(frame: frame, flush: true)
    }

    private func send(frame: ByteBuffer, flush: Bool) {
        if bounds.replied(bytes: frame.readableBytes) { boundsChanged() }
        if queue.isEmpty {
            if flush && inReadPass {
                flushAfterRead = true
                writeFrame(frame, flush: false)
            } else {
                writeFrame(frame, flush: flush)
            }
        } else {
            _ = queue.append(frame, bytes: frame.readableBytes, room: nil, droppable: false)
        }
    }

    /// True (and the connection closing) when it owes its client more than `bounds.owed`.
    func exceedsOutboundBound(_ context: ChannelHandlerContext) -> Bool {
        // Writable means under one send buffer: no need to look closer.
        guard !context.channel.isWritable else { return false }
        let buffered = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        guard bounds.exceeded(buffered: buffered, heldReplies: queue.replyBytes) else { return false }
        hub.metrics.slowDisconnects.increment()
        close(code: .policyViolation, reason: "not reading: too much unsent")
        return true
    }

    /// Answers a ping with its payload, or leaves it for the end of the read pass.
    func answerPing(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        guard !closing else { return }
        switch controlFrames.ping(writable: context.channel.isWritable, strikesAllowed: bounds.strikesAllowed) {
        case .now:
            writeFrame(ServerFrame.encode(opcode: .pong, buffer: payload, allocator: context.channel.allocator), flush: false)
            flushAfterRead = true
        case .atEndOfRead:
            deferredPong = payload
        case .close:
            close(code: .policyViolation, reason: "too many messages: slow down")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let payload = deferredPong, !closing {
            writeFrame(ServerFrame.encode(opcode: .pong, buffer: payload, allocator: context.channel.allocator), flush: false)
            flushAfterRead = true
        }
        deferredPong = nil
        controlFrames.endOfRead()
        inReadPass = false
        if flushAfterRead {
            flushAfterRead = false
            self.context?.flush()
        }
        context.fireChannelReadComplete()
    }

    func sendError(_ code: ErrorCode) { sendError(code, nonce: answering) }

    func sendError(_ code: ErrorCode, nonce: String?) {
        send(.error(code: code, message: code.message(maxChars: settings.maxMessageChars), nonce: nonce), flush: true)
    }

    /// An action refused: counted by code, answered with an error event.
    func refuse(_ code: ErrorCode) { refuse(code, nonce: answering) }

    func refuse(_ code: ErrorCode, nonce: String?) {
        hub.metrics.errors(code.rawValue).increment()
        sendError(code, nonce: nonce)
    }

    /// Sends a close frame and closes the TCP connection at most `closeGrace` later.
    func close(code: CloseCode, reason: String) {
        close(rawCode: code.rawValue, reason: reason)
    }

    /// How long a closing connection has to finish the closing handshake: counted from when
    /// closing starts, so a client that reads nothing cannot hold it open behind its unsent
    /// data (the close frame may never reach the socket).
    static let closeGrace = TimeAmount.seconds(2)

    func close(rawCode: UInt16, reason: String) {
        guard let context, !closing else { return }
        closing = true
        let channel = context.channel
        hardClose = context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
        let promise = context.eventLoop.makePromise(of: Void.self)
        writeFrame(ServerFrame.close(code: rawCode, reason: reason, allocator: channel.allocator), flush: true, promise: promise)
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
}
