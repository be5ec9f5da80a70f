import ChatConfig
import ChatServer
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// WATCHDOG=1 flows only while every event loop answers its probes.
@Suite struct WatchdogTests {
    final class Recorder: Sendable {
        let lines = NIOLockedValueBox<[(ContinuousClock.Instant, String)]>([])
        let stream: AsyncStream<String>
        private let continuation: AsyncStream<String>.Continuation

        init() { (stream, continuation) = AsyncStream.makeStream(of: String.self) }

        func record(_ s: String) {
            lines.withLockedValue { $0.append((ContinuousClock.now, s)) }
            continuation.yield(s)
        }

        func pings(between a: ContinuousClock.Instant, and b: ContinuousClock.Instant) -> Int {
            lines.withLockedValue { $0.filter { $0.0 > a && $0.0 < b && $0.1 == "WATCHDOG=1" }.count }
        }
    }

    /// Waits for `count` more watchdog pings, failing after `timeout`.
    func awaitPings(_ count: Int, from iterator: inout AsyncStream<String>.Iterator, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var seen = 0
        while seen < count {
            guard let line = await iterator.next() else { throw CancellationError() }
            if line == "WATCHDOG=1" { seen += 1 }
            #expect(ContinuousClock.now < deadline, "watchdog pings too slow")
        }
    }

    @Test func aBlockedLoopStopsThePings() async throws {
        var config = Config()
        config.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        config.metrics.listen = nil
        config.control.socket = ""
        config.history.path = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)/history.sqlite"
        let recorder = Recorder()
        var options = ChatServer.Options(defaultWebRoot: TestServer.webRoot)
        options.threads = 2
        options.watchdog = .milliseconds(400)
        options.notify = { recorder.record($0) }
        let server = try ChatServer(config: config, options: options, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await server.start()
        var lines = recorder.stream.makeAsyncIterator()

        // Healthy: pings arrive (every 200 ms).
        try await awaitPings(3, from: &lines, timeout: .seconds(5))

        // One loop stuck for 1.2 s. Its last answer predates the block, so once half the
        // interval (200 ms) has passed no ping may be sent until it answers again. (Checked
        // from 700 ms: a check made just before 200 ms may reach the recorder a little later
        // on a busy machine.)
        let started = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        let loops = Array(server.group.makeIterator())
        try await loops[1].submit {
            started.withLockedValue { $0 = ContinuousClock.now }
            usleep(1_200_000)
        }.get()
        let unblocked = ContinuousClock.now
        let blockedAt = try #require(started.withLockedValue { $0 })
        #expect(recorder.pings(between: blockedAt + .milliseconds(700), and: unblocked) == 0)
        #expect(recorder.pings(between: .now - .seconds(60), and: unblocked) >= 3)

        // Pings resume once the loop answers again.
        try await awaitPings(2, from: &lines, timeout: .seconds(5))
        #expect(recorder.lines.withLockedValue { $0.contains { $0.1.hasPrefix("STATUS=0 connections") } })
        try await server.shutdown(drain: .zero)
    }
}
