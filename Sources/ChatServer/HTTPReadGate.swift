import NIOCore

/// The first handler of a plain-HTTP connection: it hands the request decoder the bytes read
/// in slices, and only while the answering handler can take more, so that what a client that
/// pipelines without reading costs is bounded: at most a slice of decoded requests waits, the
/// rest stays raw here (one read's worth at most, since nothing more is read meanwhile).
///
/// The decoder parses everything it is given at once, and NIO's pipelining handler queues the
/// parsed requests without limit; slicing keeps both small. Once the connection upgrades the
/// gate removes itself, handing on what it still holds (frames sent right behind the
/// upgrade request).
final class HTTPReadGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer

    /// Bytes handed to the decoder at a time (per event-loop turn): a few dozen small
    /// requests for static files; fewer where each answer costs more (a metrics scrape).
    let sliceBytes: Int

    private let pacer: LoopPacer?

    init(sliceBytes: Int = 2048, pacer: LoopPacer? = nil) {
        self.sliceBytes = sliceBytes
        self.pacer = pacer
    }

    /// True while the answering handler has a request it has not finished (waiting for the
    /// socket, or for the history store): nothing more is decoded meanwhile.
    var downstreamBusy: () -> Bool = { false }
    /// Told before each slice is handed on.
    var sliceStarted: () -> Void = {}

    private var held = ByteBuffer()
    private var readPending = false
    private var draining = false
    private var inChannelRead = false
    private var scheduled = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if held.readableBytes == 0 {
            held = bytes
        } else {
            held.writeBuffer(&bytes)
        }
        inChannelRead = true
        defer { inChannelRead = false }
        drain(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable { resume() }
    }

    func read(context: ChannelHandlerContext) {
        if held.readableBytes > 0 || downstreamBusy() || !context.channel.isWritable {
            readPending = true
        } else {
            context.read()
        }
    }

    /// The answering handler finished a request (or the socket drained): hand on more.
    func resume() {
        guard let context else { return }
        drain(context: context)
        if readPending, held.readableBytes == 0, !downstreamBusy(), context.channel.isWritable {
            readPending = false
            context.read()
        }
    }

    private func drain(context: ChannelHandlerContext) {
        // Re-entered when a request answered inside this slice finishes: the outer call
        // goes on.
        guard !draining else { return }
        guard held.readableBytes > 0, !downstreamBusy(), context.channel.isWritable else { return }
        draining = true
        let slice = held.readSlice(length: min(sliceBytes, held.readableBytes))!
        sliceStarted()
        context.fireChannelRead(wrapInboundOut(slice))
        draining = false
        if held.readableBytes == 0 { held = ByteBuffer() }
        // Inside channelRead the socket's own read-complete follows; from a resume, say so.
        if !inChannelRead, self.context != nil { context.fireChannelReadComplete() }
        // One slice at a time, the next from the loop's pacer: a pipelining client cannot
        // hold the loop (and the other connections on it) for longer than a slice's worth of
        // answers, nor chain slices without the loop polling its sockets in between.
        if held.readableBytes > 0, !scheduled, self.context != nil {
            scheduled = true
            let next = { [self] in
                scheduled = false
                resume()
            }
            if let pacer {
                pacer.enqueue(next)
            } else {
                context.eventLoop.assumeIsolated().execute(next)
            }
        }
    }

    func removeHandler(context: ChannelHandlerContext, removalToken: ChannelHandlerContext.RemovalToken) {
        if held.readableBytes > 0 {
            let rest = held
            held = ByteBuffer()
            context.fireChannelRead(wrapInboundOut(rest))
            context.fireChannelReadComplete()
        }
        if readPending {
            readPending = false
            context.read()
        }
        context.leavePipeline(removalToken: removalToken)
    }
}
