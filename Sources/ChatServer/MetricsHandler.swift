import NIOCore
import NIOHTTP1

/// The metrics listener: `GET /metrics` in Prometheus text format, nothing else. Like the
/// chat listener's HTTP side, it answers one request at a time and only while the socket
/// takes the answer, and closes a client that sends no complete request within
/// `limits.handshake_timeout_seconds` (from the accept, or from its last answer).
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: ChatMetrics
    private let state: ConnectionState
    private var head: HTTPRequestHead?
    /// A complete request waiting for the socket to drain.
    private var waiting: HTTPRequestHead?

    init(metrics: ChatMetrics, state: ConnectionState = ConnectionState()) {
        self.metrics = metrics
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(h):
            head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            state.busy = true
            guard context.channel.isWritable else {
                waiting = head
                return
            }
            answer(head, context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable, let head = waiting {
            waiting = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        state.stopIdleTimer()
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let (status, type, body): (HTTPResponseStatus, String, ByteBuffer)
        if path != "/metrics" {
            (status, type, body) = (.notFound, "text/plain; charset=utf-8", ByteBuffer(string: "not found\n"))
        } else if head.method != .GET && head.method != .HEAD {
            (status, type, body) = (.methodNotAllowed, "text/plain; charset=utf-8", ByteBuffer(string: "method not allowed\n"))
        } else {
            (status, type, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", ByteBuffer(bytes: metrics.text()))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: head.isKeepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        // Settled before `.end`: writing it hands this handler the next pipelined request.
        state.busy = false
        if keepAlive { state.rearmIdleTimer(channel: channel) }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
        if keepAlive { state.gate?.resume() }
    }
}
