public import ChatConfig
import ChatCore
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
public import NIOPosix
import NIOWebSocket

/// What every connection's handlers share: settings, the hub, the page, the logger.
final class ServerCore: Sendable {
    let settings: SettingsBox
    let hub: Hub
    let logger: Logger
    let site: StaticSite

    init(settings: Settings, hub: Hub, site: StaticSite, logger: Logger) {
        self.settings = SettingsBox(settings)
        self.hub = hub
        self.site = site
        self.logger = logger
    }
}

/// chatd's network side: binds (or adopts) listeners, wires each connection's pipeline,
/// and stops. One instance per process; tests start it on port 0.
public final class ChatServer: Sendable {
    public let group: MultiThreadedEventLoopGroup
    private let core: ServerCore
    private let channels: NIOLockedValueBox<[any Channel]> = NIOLockedValueBox([])
    private let ownsGroup: Bool

    /// - Parameters:
    ///   - webRoot: folder of the page; see `StaticSite.defaultRoot`.
    ///   - threads: event loops; default one per core.
    public init(config: Config, webRoot: String, logger: Logger, threads: Int = System.coreCount) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        ownsGroup = true
        let site = try StaticSite(root: webRoot)
        core = ServerCore(settings: Settings(config), hub: Hub(loops: Array(group.makeIterator())), site: site, logger: logger)
    }

    /// Binds every configured listen address; returns the bound addresses (port 0 resolved).
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        var bound: [SocketAddress] = []
        for address in core.settings.current.config.server.listen {
            let channel = try await bootstrap().bind(host: address.host, port: address.port).get()
            channels.withLockedValue { $0.append(channel) }
            if let local = channel.localAddress { bound.append(local) }
            core.logger.notice("listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        }
        return bound
    }

    /// Open WebSocket connections.
    public var connectionCount: Int { core.hub.connections.load(ordering: .relaxed) }

    /// Stops accepting, closes every client with 1001 (reconnect later), waits up to
    /// `drain` for them to go, then stops the event loops.
    public func shutdown(drain: Duration = .seconds(5)) async throws {
        let listeners = channels.withLockedValue { list in
            defer { list.removeAll() }
            return list
        }
        for channel in listeners { try? await channel.close() }
        await core.hub.closeAll(code: .goingAway, reason: "server shutting down")
        let deadline = ContinuousClock.now + drain
        while connectionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if ownsGroup { try await group.shutdownGracefully() }
    }

    private func bootstrap() -> ServerBootstrap {
        let core = self.core
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, core: core)
                }
            }
    }

    private static func configure(_ channel: any Channel, core: ServerCore) throws {
        let settings = core.settings.current
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: settings.maxFrameBytes,
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                let decision = core.settings.current.gate.decide(UpgradeGate.Request(head))
                guard case let .accept(session) = decision, !session.echo || core.settings.current.echoEnabled else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let current = core.settings.current
                    guard case let .accept(session) = current.gate.decide(UpgradeGate.Request(head)) else {
                        throw ChannelError.inappropriateOperationForState
                    }
                    // chatd encodes its own server frames (once per broadcast) and writes them
                    // through a sink at the socket end of the pipeline.
                    let ops = channel.pipeline.syncOperations
                    let sink = FrameSink()
                    try ops.addHandler(sink, position: .first)
                    try ops.addHandler(ChatSession(session: session, hub: core.hub, settings: current, sink: sink))
                    core.logger.debug("websocket open", metadata: ["room": "\(session.room)", "name": "\(session.name)"])
                }
            }
        )
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                _ = context.pipeline.syncOperations.removeHandler(name: HTTPHandler.name)
            }),
            withErrorHandling: true
        )
        try channel.pipeline.syncOperations.addHandler(HTTPHandler(server: core), name: HTTPHandler.name)
    }
}
