import ChatConfig
import ChatServer
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Issue 14, item 3: chatd's parts run in one service group and stop in the reverse of their
/// declared order: the chat door drains first, while the metrics listener and the control
/// socket still answer; they close after it; the store goes last.
@Suite struct LifecycleTests {
    @Test func theOtherDoorsStayOpenWhileClientsDrainAndCloseAfter() async throws {
        let s = try await HTTPHardeningTests.start()
        let control = try #require(s.bound.control)
        // A client that never answers the close keeps the drain going (until the close grace
        // of 2 s ends it).
        let stubborn = try await RawConnection.open(port: s.port, keepsOpen: true)
        try await stubborn.send(HTTPKeepAliveTests().upgrade())
        #expect(try await stubborn.switchingProtocols()?.hasPrefix("HTTP/1.1 101") == true)

        let stopping = Task { try await s.server.shutdown(drain: .seconds(3)) }
        // The drain has begun once the client is told 1001.
        var opcode: UInt8?
        repeat { opcode = try await stubborn.frame()?.opcode } while opcode != nil && opcode != 0x8
        #expect(opcode == 0x8)

        // The chat listener is closed: no new connection is accepted…
        await #expect(throws: (any Error).self) { try await RawConnection.open(port: s.port) }
        // …but the operator can still watch the drain, and Prometheus still scrape it.
        let c = try await RawConnection.open(unixPath: control)
        try await c.send(#"{"v":1,"command":"status"}"# + "\n")
        let status = try #require(try await c.line())
        #expect(status.contains(#""ok":true"#) && status.contains(#""connections":1"#) && status.contains(#""ready":false"#))
        await c.close()
        let m = try await RawConnection.open(port: s.metricsPort)
        try await m.send(HTTPHardeningTests.get("/metrics"))
        #expect(try await m.response()?.status == 200)
        await m.close()

        try await stopping.value
        await stubborn.close()
        #expect(!FileManager.default.fileExists(atPath: control))
        await #expect(throws: (any Error).self) { try await RawConnection.open(port: s.metricsPort) }
    }

    /// A start that fails half way (the address is taken) is undone by `shutdown`: the parts
    /// already running (the store's checkpointer, the signal handling a host adds) stop, and
    /// `run` returns.
    @Test func aFailedStartStopsWhatHadStarted() async throws {
        let first = try await TestServer.start()
        var config = first.config
        config.server.listen = [ListenAddress(host: "127.0.0.1", port: first.port)]
        config.history.path = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)/history.sqlite"
        let second = try ChatServer(config: config, webRoot: TestServer.webRoot, logger: Logger(label: "chatd-test"), threads: 1)
        let host = HostPart()
        await #expect(throws: (any Error).self) { try await second.startAll(with: [host]) }
        try await second.shutdown(drain: .zero)
        try await second.run()
        #expect(host.stopped.withLock { $0 })
        try await first.stop()
    }
}

/// A host's part that records that the group stopped it.
final class HostPart: Service, Sendable {
    let stopped = Mutex(false)

    func run() async throws {
        try? await gracefulShutdown()
        stopped.withLock { $0 = true }
    }
}
