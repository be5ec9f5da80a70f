import NIOCore
import NIOWebSocket

/// What the server answered on the way to the upgrade.
struct HandshakeResult: Sendable {
    /// The statuses of the plain requests sent before the upgrade on the same connection.
    var statuses: [Int] = []
    /// The subprotocol the 101 selected, if any.
    var subprotocol: String?
}

/// Writes the upgrade request, reads the response head, and on 101 installs the frame codec
/// behind itself, handing it any bytes that came with the head. On any other status it reads
/// the body and fails the upgrade with `ClientError.rejected`.
///
/// Plain requests may go first on the same connection (`before`): each is answered in full
/// (Content-Length) before the next is written, or all are written at once with the upgrade
/// behind them (`pipelined`), as a proxy's kept-alive connection or a pipelining client does.
final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHead
        /// A response to one of the plain requests: its body is skipped.
        case skippingBody(status: Int, remaining: Int)
        case rejected(head: HTTPHead, expected: Int?)
        case open
        case done
    }

    private let request: String
    private var before: [String]
    private let pipelined: Bool
    private let trailing: [UInt8]
    private let protocols: [String]
    private let mailbox: Mailbox
    private let autoPong: Bool
    private let promise: EventLoopPromise<HandshakeResult>
    private var state = State.awaitingHead
    private var pending: [UInt8] = []
    private var result = HandshakeResult()
    private var answersToSkip: Int

    init(
        request: String, before: [String] = [], pipelined: Bool = false, trailing: [UInt8] = [], protocols: [String] = [],
        mailbox: Mailbox, autoPong: Bool, promise: EventLoopPromise<HandshakeResult>
    ) {
        self.request = request
        self.before = before
        self.pipelined = pipelined
        self.trailing = trailing
        self.protocols = protocols
        self.mailbox = mailbox
        self.autoPong = autoPong
        self.promise = promise
        answersToSkip = before.count
    }

    func channelActive(context: ChannelHandlerContext) {
        if pipelined {
            var all = ByteBuffer(string: before.joined() + request)
            all.writeBytes(trailing)
            before = []
            context.writeAndFlush(wrapOutboundOut(all), promise: nil)
        } else {
            writeNext(context: context)
        }
        context.fireChannelActive()
    }

    /// The next plain request, or the upgrade once they are all answered.
    private func writeNext(context: ChannelHandlerContext) {
        if before.isEmpty {
            var bytes = ByteBuffer(string: request)
            bytes.writeBytes(trailing)
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: before.removeFirst())), promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        switch state {
        case .open:
            context.fireChannelRead(data)
        case .done:
            break
        case .awaitingHead, .skippingBody, .rejected:
            pending += buffer.readBytes(length: buffer.readableBytes) ?? []
            advance(context: context)
        }
    }

    private func advance(context: ChannelHandlerContext, closed: Bool = false) {
        while true {
            switch state {
            case .awaitingHead:
                let parsed: (HTTPHead, Int)?
                do {
                    parsed = try HTTPHead.parse(pending)
                } catch {
                    state = .done
                    promise.fail(error)
                    context.close(promise: nil)
                    return
                }
                guard let (head, end) = parsed else { return }
                pending.removeFirst(end)
                if head.status == 101 {
                    return upgrade(context: context, head: head)
                }
                let length = head.header("content-length").flatMap { Int($0) }
                if answersToSkip > 0 {
                    answersToSkip -= 1
                    state = .skippingBody(status: head.status, remaining: max(0, length ?? 0))
                } else {
                    state = .rejected(head: head, expected: length)
                }
            case let .skippingBody(status, remaining):
                guard pending.count >= remaining else { return }
                pending.removeFirst(remaining)
                result.statuses.append(status)
                state = .awaitingHead
                if !pipelined { writeNext(context: context) }
            case let .rejected(head, expected):
                guard closed || (expected.map { pending.count >= $0 } ?? false) else { return }
                state = .done
                promise.fail(RejectedResponse(head: head, body: String(decoding: pending.prefix(expected ?? pending.count), as: UTF8.self)))
                context.close(promise: nil)
                return
            case .open, .done:
                return
            }
        }
    }

    private func upgrade(context: ChannelHandlerContext, head: HTTPHead) {
        guard head.header("upgrade")?.lowercased() == "websocket", head.header("sec-websocket-accept") != nil else {
            state = .done
            promise.fail(ClientError.badHandshake("101 without Upgrade: websocket and Sec-WebSocket-Accept"))
            context.close(promise: nil)
            return
        }
        let selected = head.header("sec-websocket-protocol")
        if let selected, !protocols.contains(selected) {
            state = .done
            promise.fail(ClientError.badHandshake("the server selected a subprotocol that was not offered: \(selected)"))
            context.close(promise: nil)
            return
        }
        result.subprotocol = selected
        state = .open
        do {
            try context.pipeline.syncOperations.addHandlers(
                [
                    ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 24)), WebSocketFrameEncoder(),
                    ClientFrameHandler(mailbox: mailbox, autoPong: autoPong),
                ],
                position: .after(self)
            )
        } catch {
            promise.fail(error)
            return
        }
        promise.succeed(result)
        let rest = pending
        pending = []
        if !rest.isEmpty { context.fireChannelRead(wrapInboundOut(ByteBuffer(bytes: rest))) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead, .skippingBody:
            state = .done
            promise.fail(ClientError.badHandshake("connection closed before a response"))
        case .rejected:
            advance(context: context, closed: true)
        case .open, .done:
            break
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .awaitingHead, .skippingBody:
            state = .done
            promise.fail(ClientError.connectionFailed("\(error)"))
        case .rejected, .open, .done:
            // A refusal may be followed by a reset: its status still comes with the close.
            break
        }
        context.fireErrorCaught(error)
    }
}

/// Frames in, events out; answers pings when asked to and echoes the server's close.
final class ClientFrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let mailbox: Mailbox
    private let autoPong: Bool
    private var sentClose = false

    init(mailbox: Mailbox, autoPong: Bool) {
        self.mailbox = mailbox
        self.autoPong = autoPong
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var payload = frame.unmaskedData
        let bytes = payload.readBytes(length: payload.readableBytes) ?? []
        switch frame.opcode {
        case .text:
            mailbox.push(.text(String(decoding: bytes, as: UTF8.self)))
        case .binary:
            mailbox.push(.binary(bytes))
        case .ping:
            mailbox.push(.ping(bytes))
            if autoPong {
                let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: ByteBuffer(bytes: bytes))
                context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            }
        case .pong:
            mailbox.push(.pong(bytes))
        case .connectionClose:
            let code = bytes.count >= 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : nil
            let reason = bytes.count > 2 ? String(decoding: bytes[2...], as: UTF8.self) : ""
            mailbox.push(.close(code: code, reason: reason))
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        mailbox.push(.disconnected)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A complete non-101 answer, before it is turned into `ClientError.rejected`.
struct RejectedResponse: Error {
    let head: HTTPHead
    let body: String
}
