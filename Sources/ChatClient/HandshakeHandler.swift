import NIOCore
import NIOWebSocket

/// Writes the upgrade request, reads the response head, and on 101 installs the frame codec
/// behind itself, handing it any bytes that came with the head. On any other status it reads
/// the body and fails the upgrade with `ClientError.rejected`.
final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHead([UInt8])
        case rejected(head: HTTPHead, body: [UInt8], expected: Int?)
        case open
        case done
    }

    private let request: String
    private let mailbox: Mailbox
    private let autoPong: Bool
    private let promise: EventLoopPromise<Void>
    private var state = State.awaitingHead([])

    init(request: String, mailbox: Mailbox, autoPong: Bool, promise: EventLoopPromise<Void>) {
        self.request = request
        self.mailbox = mailbox
        self.autoPong = autoPong
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        switch state {
        case .open:
            context.fireChannelRead(data)
        case var .awaitingHead(bytes):
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
            let parsed: (HTTPHead, Int)?
            do {
                parsed = try HTTPHead.parse(bytes)
            } catch {
                state = .done
                promise.fail(error)
                context.close(promise: nil)
                return
            }
            guard let (head, end) = parsed else {
                state = .awaitingHead(bytes)
                return
            }
            let rest = Array(bytes[end...])
            if head.status == 101 {
                upgrade(context: context, head: head, rest: rest)
            } else {
                state = .rejected(head: head, body: rest, expected: head.header("content-length").flatMap { Int($0) })
                checkRejectedComplete(context: context)
            }
        case .rejected(let head, var body, let expected):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
            state = .rejected(head: head, body: body, expected: expected)
            checkRejectedComplete(context: context)
        case .done:
            break
        }
    }

    private func upgrade(context: ChannelHandlerContext, head: HTTPHead, rest: [UInt8]) {
        guard head.header("upgrade")?.lowercased() == "websocket", head.header("sec-websocket-accept") != nil else {
            state = .done
            promise.fail(ClientError.badHandshake("101 without Upgrade: websocket and Sec-WebSocket-Accept"))
            context.close(promise: nil)
            return
        }
        state = .open
        do {
            try context.pipeline.syncOperations.addHandlers(
                [ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 24)), WebSocketFrameEncoder(),
                 ClientFrameHandler(mailbox: mailbox, autoPong: autoPong)],
                position: .after(self)
            )
        } catch {
            promise.fail(error)
            return
        }
        promise.succeed(())
        if !rest.isEmpty { context.fireChannelRead(wrapInboundOut(ByteBuffer(bytes: rest))) }
    }

    private func checkRejectedComplete(context: ChannelHandlerContext, closed: Bool = false) {
        guard case let .rejected(head, body, expected) = state else { return }
        if closed || (expected.map { body.count >= $0 } ?? false) {
            state = .done
            promise.fail(RejectedResponse(head: head, body: String(decoding: body.prefix(expected ?? body.count), as: UTF8.self)))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .awaitingHead:
            state = .done
            promise.fail(ClientError.badHandshake("connection closed before a response"))
        case .rejected:
            checkRejectedComplete(context: context, closed: true)
        case .open, .done:
            break
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case .awaitingHead = state {
            state = .done
            promise.fail(ClientError.connectionFailed("\(error)"))
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
