import ChatClient
import ChatConfig
import ChatServer
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A real chatd on 127.0.0.1:0 in this process, with the repository's page.
final class TestServer: Sendable {
    let server: ChatServer
    let port: Int
    let logs: LogCapture
    /// The configuration it runs with (reload tests start from it).
    let config: Config

    static let webRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../web").standardized.path

    static func start(threads: Int = 2, _ configure: (inout Config) -> Void = { _ in }) async throws -> TestServer {
        var config = Config()
        config.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        config.auth.allowedOrigins = ["http://localhost:8080"]
        config.metrics.listen = nil
        config.control.socket = ""
        config.history.path = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)/history.sqlite"
        configure(&config)
        let logs = LogCapture()
        var logger = Logger(label: "chatd-test") { _ in logs }
        logger.logLevel = .trace
        let server = try ChatServer(config: config, webRoot: webRoot, logger: logger, threads: threads)
        let addresses = try await server.start()
        return TestServer(server: server, port: addresses[0].port!, logs: logs, config: config)
    }

    private init(server: ChatServer, port: Int, logs: LogCapture, config: Config) {
        self.server = server
        self.port = port
        self.logs = logs
        self.config = config
    }

    func url(_ query: String = "token=dev-token") -> WebSocketURL {
        WebSocketURL(host: "127.0.0.1", port: port, target: "/chat?\(query)")
    }

    /// Connects with the allowed origin and reads past the welcome (system, history, presence).
    func join(name: String = "tester", room: String = "lobby", autoPong: Bool = true) async throws -> WebSocketClient {
        let client = try await connect(name: name, room: room, autoPong: autoPong)
        _ = try await client.nextJSON(type: "presence")
        return client
    }

    /// Connects with the allowed origin and reads nothing.
    func connect(name: String = "tester", room: String = "lobby", autoPong: Bool = true) async throws -> WebSocketClient {
        try await WebSocketClient.connect(
            to: url("token=dev-token&name=\(name)&room=\(room)"), origin: "http://localhost:8080", autoPong: autoPong)
    }

    func http(_ request: String) async throws -> RawHTTP.Response {
        try await RawHTTP.exchange(host: "127.0.0.1", port: port, request: request)
    }

    func stop() async throws {
        try await server.shutdown(drain: .seconds(2))
    }
}

/// Records every log line, so tests can assert what chatd logs (and never logs).
final class LogCapture: LogHandler, Sendable {
    private let lines = NIOLockedValueBox<[String]>([])

    var all: [String] { lines.withLockedValue { $0 } }

    func log(event: LogEvent) {
        let meta = (event.metadata ?? [:]).map { "\($0)=\($1)" }.sorted().joined(separator: " ")
        lines.withLockedValue { $0.append("\(event.level) \(event.message) \(meta)") }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
}

extension WebSocketClient {
    /// The next text frame parsed as a JSON object.
    func nextObject(timeout: Duration = .seconds(5)) async throws -> [String: Any] {
        let text: String = try await next(timeout: timeout) { event in
            if case let .text(t) = event { return t }
            if event == .disconnected { return "{\"type\":\"__disconnected\"}" }
            return nil
        }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    }

    /// Skips events until a JSON event of `type` arrives.
    func nextJSON(type: String, timeout: Duration = .seconds(5)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let object = try await nextObject(timeout: deadline - ContinuousClock.now)
            if object["type"] as? String == type { return object }
            if object["type"] as? String == "__disconnected" { throw ClientError.disconnected }
        }
    }

    /// Waits for the server's close frame; returns its code.
    func nextClose(timeout: Duration = .seconds(5)) async throws -> UInt16? {
        try await next(timeout: timeout) { event -> UInt16?? in
            if case let .close(code, _) = event { return .some(code) }
            if event == .disconnected { return .some(nil) }
            return nil
        }
    }

    func sendJSON(_ text: String) async throws {
        try await send(text: "{\"type\":\"message\",\"text\":\"\(text)\"}")
    }
}
