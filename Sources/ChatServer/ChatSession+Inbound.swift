import ChatAuth
import ChatCore
import Foundation
import NIOCore

/// A session's way in: frames, requests and their quota, and carrying out each command's plan.
extension ChatSession {
    // MARK: Inbound

    /// Bytes from the socket: every whole frame in them is taken in order; the start of an
    /// unfinished one is kept (at most `limits.max_frame_bytes` plus its head) until the rest
    /// arrives.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if inputBroken {
            // After a protocol error the bytes mean nothing; a client still sending them is
            // cut off like one flooding a closing connection.
            framesWhileClosing += 1
            if framesWhileClosing > ConnectionBounds.framesWhileClosing { context.close(promise: nil) }
            return
        }
        if var held = partialFrame {
            partialFrame = nil
            held.writeBuffer(&bytes)
            bytes = held
        }
        let rsv1Allowed = deflateWindowBits != 0
        while !inputBroken {
            let parsed = bytes.withUnsafeReadableBytes {
                WebSocketFraming.parseClientHead($0, maxPayload: settings.maxFrameBytes, rsv1Allowed: rsv1Allowed)
            }
            switch parsed {
            case .needMore:
                return keepPartial(bytes, context: context)
            case let .fail(code, reason):
                inputBroken = true
                if !closing { close(code: code, reason: reason) }
                return
            case let .head(head):
                guard bytes.readableBytes >= head.frameLength else { return keepPartial(bytes, context: context) }
                let payload = unmaskedPayload(of: head, in: &bytes, allocator: context.channel.allocator)
                received(head, payload, context: context)
            }
        }
    }

    /// What is left of a read that ends inside a frame. Copied out of the read buffer once it
    /// starts (that buffer may be far larger), then grown as the frame arrives.
    private func keepPartial(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        guard bytes.readableBytes > 0 else { return }
        if bytes.readerIndex == 0 && bytes.capacity <= 2 * bytes.readableBytes + 64 {
            partialFrame = bytes
        } else {
            var copy = context.channel.allocator.buffer(capacity: bytes.readableBytes)
            copy.writeImmutableBuffer(bytes)
            partialFrame = copy
        }
    }

    /// The frame's payload, unmasked into a buffer of its own; moves `bytes` past the frame.
    private func unmaskedPayload(of head: WebSocketFrameHead, in bytes: inout ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        bytes.moveReaderIndex(forwardBy: head.headerLength)
        let count = head.payloadLength
        var payload = allocator.buffer(capacity: count)
        if count > 0 {
            _ = bytes.withUnsafeReadableBytes { source in
                payload.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                    WebSocketFraming.unmask(UnsafeRawBufferPointer(rebasing: source[0..<count]), key: head.maskKey, into: target)
                    return count
                }
            }
        }
        bytes.moveReaderIndex(forwardBy: count)
        return payload
    }

    /// One whole frame, its head checked and its payload unmasked.
    func received(_ head: WebSocketFrameHead, _ payload: ByteBuffer, context: ChannelHandlerContext) {
        guard !closing else {
            // Reading goes on while closing only to see the client's answer and FIN; a client
            // still flooding then is closed at once (decoding it would cost the loop for the
            // rest of the grace period). Not at the first frames: with input unread the kernel
            // answers RST, which can destroy the close frame before the client reads it, and a
            // client may well be finishing a message it had started.
            framesWhileClosing += 1
            if framesWhileClosing > ConnectionBounds.framesWhileClosing { context.close(promise: nil) }
            return
        }
        // Nothing may follow a close (RFC 6455 5.5.1): what does is not read.
        guard deferredClose == nil else { return }
        inReadPass = true
        switch head.opcode {
        case .ping:
            answerPing(payload, context: context)
        case .pong:
            receivedPong(payload)
        case .close:
            receivedClose(payload)
        case .text, .binary, .continuation:
            // Every data frame costs quota as it arrives (continuations too: each is a decode).
            if !echo && !takeQuota() { return close(code: .policyViolation, reason: "too many messages: slow down") }
            let compression = hub.shards[shardIndex].shard.value.compression
            let allocator = context.channel.allocator
            switch assembler.feed(
                head, payload, limits: .init(maxBytes: settings.maxFrameBytes, maxFragments: settings.maxFragments),
                inflate: { compression.inflate($0, maxBytes: $1, allocator: allocator) })
            {
            case .none:
                break
            case let .fail(code, reason):
                close(code: code, reason: reason)
            case let .binary(data):
                guard echo else { return close(code: .unsupportedData, reason: "text messages only") }
                if !exceedsOutboundBound(context) {
                    writeFrame(dataFrame(.binary, data.readableBytesView, allocator: context.channel.allocator), flush: true)
                }
            case let .text(data):
                guard echo else { return takeRequest(data, context: context) }
                if !exceedsOutboundBound(context) {
                    writeFrame(dataFrame(.text, data.readableBytesView, allocator: context.channel.allocator), flush: true)
                }
            }
        }
    }

    /// A whole request, whose frames took their quota as they arrived (`takeQuota`): answered
    /// now if the socket keeps up and no store read is outstanding; otherwise it waits, in
    /// order (reading stops after the read pass that brought it, and what waits is bounded by
    /// `bounds.waiting`). A legitimate client that
    /// asks for two big histories in a row is served both, at the pace it reads them; one
    /// that never reads is never answered past one send buffer.
    func takeRequest(_ data: ByteBuffer, context: ChannelHandlerContext) {
        let answerable = context.channel.isWritable && !awaitingStore
        perform(intake.received(data, bytes: data.readableBytes, answerable: answerable))
    }

    /// The rate limit's verdict on one data frame; false when the connection is to be closed.
    func takeQuota() -> Bool {
        let now = NIODeadline.now().uptimeNanoseconds
        let admitted = bucket.consume(now: now) && limits.allowMessage(address: address, user: authorKey, settings: settings, now: now)
        if !admitted { hub.metrics.rateLimited.increment() }
        return intake.frame(admitted: admitted)
    }

    func perform(_ action: RequestIntake<ByteBuffer>.Action) {
        switch action {
        case let .handle(data): handleRequest(data)
        // A refused frame is not read, so its nonce is not known.
        case .refuseRateLimited: sendError(.rateLimited, nonce: nil)
        case .wait: break
        case .tooMuchWaiting:
            hub.metrics.slowDisconnects.increment()
            close(code: .policyViolation, reason: "not reading: too much unsent")
        }
    }

    /// Answers waiting requests while the socket keeps up; true when none are left.
    func answerHeldRequests(context: ChannelHandlerContext) -> Bool {
        guard intake.hasWaiting else { return true }
        inReadPass = true
        while context.channel.isWritable, !closing, !awaitingStore, let action = intake.next(bytes: \.readableBytes) {
            perform(action)
        }
        inReadPass = false
        if flushAfterRead {
            flushAfterRead = false
            self.context?.flush()
        }
        return !intake.hasWaiting
    }

    /// Once the socket keeps up and no store read is outstanding: held requests are answered,
    /// then reading resumes if a read was held back.
    func resumeReadingIfDue(_ context: ChannelHandlerContext) {
        guard context.channel.isWritable else { return }
        if !closing {
            // Answering a held request may start a store read: reading waits for it too.
            guard answerHeldRequests(context: context), !awaitingStore else { return }
            if publishesInFlight == 0, let close = deferredClose {
                deferredClose = nil
                return receivedClose(close)
            }
        }
        if readPending {
            readPending = false
            read(context: context)
        }
    }

    /// Reads history off the event loop (a store read may take milliseconds, and every other
    /// connection of this loop would wait for it), then answers on it.
    func answerFromStore(_ read: @escaping @Sendable () async -> ServerEvent) {
        guard let loop = context?.eventLoop else { return }
        awaitingStore = true
        let this = NIOLoopBound(self, eventLoop: loop)
        Task {
            let event = await read()
            loop.execute { this.value.storeAnswered(event) }
        }
    }

    func storeAnswered(_ event: ServerEvent) {
        awaitingStore = false
        guard let context else { return }
        send(event.answering(answering), flush: true)
        resumeReadingIfDue(context)
    }

    /// A request whose quota was taken (`takeRequest`): parsed, checked, carried out.
    func handleRequest(_ data: ByteBuffer) {
        let command: ClientCommand
        let decoded = ClientCommand.decodeRequest(data.readableBytesView, maxChars: settings.maxMessageChars)
        answering = decoded.nonce
        switch decoded.command {
        case let .failure(code): return refuse(code)
        case let .success(decoded): command = decoded
        }
        carryOut(plan(command), announce: true)
    }

    func plan(_ command: ClientCommand) -> CommandPlan {
        let session = CommandPlan.Session(
            identity: identity, primaryRoom: primaryRoom, rooms: roomList, maxRooms: settings.maxRoomsPerConnection,
            rules: settings.rules)
        return CommandPlan.plan(command, for: session) { [moderation, identity, authorKey] in
            moderation.isMuted(userKey: identity.userKey, authorKey: authorKey)
        }
    }

    func carryOut(_ plan: CommandPlan, announce: Bool) {
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
            let (hub, resumeLimit, reader) = (hub, settings.resumeLimit, authorKey)
            answerFromStore {
                let welcome = await hub.catchUp(in: entered, since: since, limit: resumeLimit)
                let marked = await hub.markingOwnReactions(welcome.messages, room: room, reader: reader)
                return .history(room: room, messages: marked, recovered: welcome.recovered)
            }
        case let .history(room, before, limit):
            let (hub, reader) = (hub, authorKey)
            answerFromStore {
                let older = await hub.older(room: room, before: before ?? UInt64.max, limit: limit)
                let messages = await hub.markingOwnReactions(older, room: room, reader: reader)
                // `before` is echoed (or, for "the newest", one past the last returned) so that a
                // page of older messages is told apart from the welcome.
                return .history(room: room, messages: messages, before: before ?? ((messages.last?.seq ?? 0) + 1))
            }
        case let .publish(room, text, nonce, replyTo):
            if settings.publishURL.isEmpty {
                publish(text, in: room, nonce: nonce, replyTo: replyTo)
            } else {
                askPublishProxy(text, in: room, for: .message(nonce: nonce, replyTo: replyTo))
            }
        case let .delete(room, seq, asModerator):
            requestDelete(seq: seq, room: room, isModerator: asModerator)
        case let .edit(room, seq, text, asModerator):
            requestEdit(seq: seq, text: text, room: room, isModerator: asModerator)
        case let .versions(room, seq):
            guard let store = hub.store else { return sendError(.unavailable) }
            answerFromStore {
                guard let versions = try? await store.versions(room: room, seq: seq) else {
                    return .error(code: .unavailable, message: "The versions could not be read. Try again shortly.")
                }
                return .versions(room: room, seq: seq, versions: versions)
            }
        case let .react(room, seq, emoji, added):
            requestReaction(seq: seq, emoji: emoji, added: added, room: room)
        case let .refresh(token):
            refresh(token: token, nonce: answering)
        case let .typing(room):
            guard let member = memberships.first(where: { $0.room == room }), member.entered != nil else { return }
            let now = NIODeadline.now().uptimeNanoseconds
            guard Typing.allowed(last: member.typedAt, now: now) else { return }
            member.typedAt = now
            hub.typing(member, from: name)
        case let .read(room, seq):
            markRead(room: room, seq: seq)
        case .rooms:
            answerRooms()
        case let .members(room):
            answerMembers(room: room)
        case .drop:
            break
        case let .refuse(code):
            refuse(code)
        }
    }

    func publish(_ text: String, in room: String, nonce: String? = nil, replyTo: UInt64? = nil) {
        guard let loop = context?.eventLoop else { return }
        let this = NIOLoopBound(self, eventLoop: loop)
        if let nonce { return publishUnique(text, in: room, nonce: nonce, replyTo: replyTo, loop: loop) }
        publishesInFlight += 1
        hub.publish(
            room: room, from: name, text: text, author: authorKey, replyTo: replyTo, historyWindow: settings.historyWindow
        ) { result in
            // The sender is told; a message that reached history reaches it like any other.
            loop.execute {
                if case .failure = result { this.value.refuse(.unavailable, nonce: nil) }
                this.value.publishSettled()
            }
        }
    }

    /// A message with a nonce: the session's later requests wait until it is stored or found
    /// to be a duplicate (as for a store read), so that a client's messages keep their order
    /// although the check reads the store first, and a resend sent right behind the first
    /// finds it stored.
    private func publishUnique(_ text: String, in room: String, nonce: String, replyTo: UInt64?, loop: any EventLoop) {
        awaitingStore = true
        let this = NIOLoopBound(self, eventLoop: loop)
        let id = RandomID.uuid()
        hub.publish(
            room: room, from: name, text: text, author: authorKey, id: id, nonce: nonce, replyTo: replyTo,
            historyWindow: settings.historyWindow
        ) { result in
            loop.execute { this.value.uniqueAnswered(result, id: id, nonce: nonce) }
        }
    }

    private func uniqueAnswered(_ result: Result<ChatMessage, any Error>, id: String, nonce: String) {
        awaitingStore = false
        guard let context else { return }
        defer { resumeReadingIfDue(context) }
        switch result {
        case let .success(message) where message.id != id:
            send(.duplicate(message, nonce: nonce), flush: true)
        case let .success(message):
            // The sender gets the broadcast like every member, and this to match it by.
            send(.sent(room: message.room, nonce: nonce, seq: message.seq, id: message.id), flush: true)
        case .failure:
            refuse(.unavailable, nonce: nonce)
        }
    }

    /// Moderators delete any message of their room; an author their own, within the window.
    func requestDelete(seq: UInt64, room: String, isModerator: Bool) {
        let author = authorKey
        let window = settings.authorDeleteSeconds
        let historyWindow = settings.historyWindow
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let actor = "\(name) (\(role.rawValue), connection \(id))"
        let nonce = answering
        let (moderation, loop) = (self.moderation, context!.eventLoop)
        let this = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: Moderation.Outcome.self)
        promise.completeWithTask {
            await moderation.delete(
                room: room, seq: seq, actor: actor, reason: isModerator ? "moderator" : "author", historyWindow: historyWindow
            ) { message in
                isModerator || message.isChangeable(by: author, windowSeconds: window, nowMilliseconds: now)
            }
        }
        promise.futureResult.whenSuccess { outcome in
            switch outcome {
            case .deleted: break  // every member, this one included, gets `deleted`
            case .notFound: this.value.sendError(.notFound, nonce: nonce)
            case .forbidden: this.value.sendError(.forbidden, nonce: nonce)
            case .failed: this.value.sendError(.notFound, nonce: nonce)
            }
        }
    }

    /// One of `publishesInFlight` is stored or failed: a close waiting for it may be answered.
    func publishSettled() {
        publishesInFlight = max(publishesInFlight - 1, 0)
        if publishesInFlight == 0, deferredClose != nil, let context { resumeReadingIfDue(context) }
    }

    /// Answers a client's close with the same code (RFC 6455 5.5.1), or with 1002/1007 when
    /// the close frame itself is malformed.
    func receivedClose(_ payload: ByteBuffer) {
        // Requests sent before the close are carried out first: a message sent right before
        // closing, while a store read held the requests behind it, is not lost.
        if intake.hasWaiting || awaitingStore || publishesInFlight > 0 {
            deferredClose = payload
            return
        }
        let answer = CloseHandshake.answer(toClose: payload.readableBytesView)
        close(rawCode: answer.code, reason: answer.reason)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
