import ChatAuth
import ChatCore
import Foundation
import NIOCore
import NIOWebSocket

/// A session's way in: frames, requests and their quota, and carrying out each command's plan.
extension ChatSession {
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
            if framesWhileClosing > ConnectionBounds.framesWhileClosing { context.close(promise: nil) }
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
            // Every data frame costs quota as it arrives (continuations too: each is a decode).
            if !echo && !takeQuota() { return close(code: .policyViolation, reason: "too many messages: slow down") }
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
        case .refuseRateLimited: sendError(.rateLimited)
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
            sink.context?.flush()
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
        send(event, flush: true)
        resumeReadingIfDue(context)
    }

    /// A request whose quota was taken (`takeRequest`): parsed, checked, carried out.
    func handleRequest(_ data: ByteBuffer) {
        let command: ClientCommand
        switch ClientCommand.decode(data.readableBytesView, maxChars: settings.maxMessageChars) {
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
    func requestDelete(seq: UInt64, room: String, isModerator: Bool) {
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
    func receivedClose(_ payload: ByteBuffer) {
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
