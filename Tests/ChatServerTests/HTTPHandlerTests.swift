import ChatConfig
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing

@testable import ChatServer

/// HTTPHandler on an EmbeddedChannel: /readyz follows the readiness flag.
@Suite struct HTTPHandlerTests {
    func core() throws -> ServerCore {
        let metrics = ChatMetrics()
        let loop = EmbeddedEventLoop()
        return ServerCore(
            settings: try Settings(Config()), hub: try Hub(loops: [loop], metrics: metrics),
            site: try StaticSite(root: TestServer.webRoot), logger: Logger(label: "t"), metrics: metrics,
            backend: BackendClient(group: loop, logger: Logger(label: "t")))
    }

    func get(_ path: String, core: ServerCore) throws -> HTTPResponseHead? {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPHandler(server: core))
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path)))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        guard case let .head(head)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else { return nil }
        return head
    }

    @Test func readyzTurnsNotReadyWhenDraining() throws {
        let core = try core()
        core.ready.store(true, ordering: .relaxed)
        #expect(try get("/readyz", core: core)?.status == .ok)
        core.ready.store(false, ordering: .relaxed)
        #expect(try get("/readyz", core: core)?.status == .serviceUnavailable)
        // Liveness is not readiness: /healthz still answers 200 while draining.
        #expect(try get("/healthz", core: core)?.status == .ok)
    }
}
