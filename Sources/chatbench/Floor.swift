import ArgumentParser
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The floors chatd is judged against (issue 15): a bare SwiftNIO server holding idle TCP
/// connections with an empty pipeline, or upgraded by NIO's own WebSocket handlers with one
/// empty handler behind them. Serves until killed; measure it with `idle --server-pid`
/// (`--raw` for the empty pipeline, which answers no upgrade; `--raw --hello` for `answer`).
struct Floor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve a bare NIO floor to measure idle connections against.")

    enum Pipeline: String, ExpressibleByArgument { case empty, answer, websocket }

    @Option var host = "127.0.0.1"
    @Option var port = 9200
    @Option(
        help: """
            empty: TCP only; answer: TCP, and each read answered with 129 bytes (a 101 response's size), \
            the least any WebSocket server does with a connection; websocket: NIO's HTTP server, upgrader and \
            WebSocket handlers.
            """)
    var pipeline = Pipeline.empty
    @Option(help: "Receive buffer a connection starts with (chatd: 256; NIO's default: 2048).") var receiveBuffer = 256

    final class Empty: ChannelInboundHandler, Sendable {
        typealias InboundIn = NIOAny
    }

    /// Answers each read (`idle --hello` sends one) and holds the connection: the channel has
    /// then used its receive buffer and write queue once, as every upgraded connection has.
    final class Answer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        static let reply = [UInt8](repeating: UInt8(ascii: "x"), count: 129)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: Self.reply)), promise: nil)
        }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pipeline = self.pipeline
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: receiveBuffer, maximum: 65536)
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if pipeline == .answer { try channel.pipeline.syncOperations.addHandler(Answer()) }
                    guard pipeline == .websocket else { return }
                    let upgrader = NIOWebSocketServerUpgrader(
                        shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Empty()) }
                        })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }
            }
            .bind(host: host, port: port).get()
        print("floor (\(pipeline.rawValue)) listening on \(host):\(port)")
        try await channel.closeFuture.get()
    }
}
