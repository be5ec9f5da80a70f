import NIOCore

/// The point in the pipeline where chatd's pre-encoded frames enter: placed first (next to
/// the socket), so bytes written through it bypass NIO's per-frame WebSocket encoder, which
/// stays in the pipeline (it cannot be removed) but never sees chatd's frames.
final class FrameSink: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private(set) var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func write(_ frame: ByteBuffer, flush: Bool, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if flush {
            context.writeAndFlush(NIOAny(frame), promise: promise)
        } else {
            context.write(NIOAny(frame), promise: promise)
        }
    }
}
