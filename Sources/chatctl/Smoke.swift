import ArgumentParser
import ChatClient
import Foundation

/// The post-install check: connect, send one message, wait for it to come back.
struct Smoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to chatd, send one message and wait for it to come back (exit 0), or say why not (exit 1)."
    )

    @Option(help: "WebSocket URL of the chat endpoint.")
    var url = "ws://127.0.0.1:8080/chat"

    @Option(
        help:
            "Token to present: as the `bearer.TOKEN` subprotocol (out of the URL and so out of proxy logs), or the `token` query parameter when it has characters a subprotocol cannot hold."
    )
    var token = ProcessInfo.processInfo.environment["CHAT_TOKEN"] ?? "dev-token"

    @Option(help: "Origin header to send. Default: http://HOST:PORT of --url.")
    var origin: String?

    @Option(help: "Room to join.")
    var room = "lobby"

    @Option(help: "Name to use.")
    var name = "smoke"

    @Option(help: "Seconds to wait for each step.")
    var timeout: Double = 5

    func run() async throws {
        guard var target = WebSocketURL(url) else {
            throw failure("invalid --url \"\(url)\" (expected ws://host:port/path)")
        }
        let separator = target.target.contains("?") ? "&" : "?"
        let protocols = Self.protocols(token: token)
        target.target += separator + "name=\(Self.encode(name))&room=\(Self.encode(room))"
        if protocols.isEmpty { target.target += "&token=\(Self.encode(token))" }
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            throw failure("--timeout must be between 0 and 86400 seconds, got \(timeout)")
        }
        let wait = Duration.milliseconds(Int64(timeout * 1000))
        let text = "smoke \(UInt64.random(in: 0...UInt64.max))"
        do {
            let client = try await WebSocketClient.connect(
                to: target, origin: origin ?? target.httpOrigin, protocols: protocols,
                timeout: wait)
            try await client.send(text: "{\"type\":\"message\",\"text\":\"\(text)\"}")
            let outcome: String? = try await client.next(timeout: wait) { event in
                switch event {
                case let .text(json) where json.contains("\"type\":\"message\"") && json.contains(text): return "ok"
                case let .text(json) where json.contains("\"type\":\"error\""): return "error event: \(json)"
                case let .close(code, reason): return "closed by the server with \(code.map(String.init) ?? "no code") \(reason)"
                case .disconnected: return "connection closed by the server"
                default: return nil
                }
            }
            await client.close()
            guard outcome == "ok" else { throw failure(outcome ?? "unexpected answer") }
            print("chatctl smoke: ok: message echoed in room \(room) at \(url)")
        } catch let error as ClientError {
            throw failure(Self.explain(error))
        }
    }

    static func explain(_ error: ClientError) -> String {
        switch error {
        case .rejected(401, _): return "HTTP 401: the token was refused (check --token / auth.tokens)"
        case .rejected(403, _): return "HTTP 403: the Origin was refused (check --origin / auth.allowed_origins)"
        case .rejected(404, _): return "HTTP 404: no chat endpoint at this path (check --url)"
        default: return error.description
        }
    }

    /// `["chatd", "bearer.TOKEN"]`, as the page sends it, when the token is made of the
    /// characters a subprotocol may hold (RFC 7230 tchar); else none (the token goes in the query).
    static func protocols(token: String) -> [String] {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        guard !token.isEmpty, token.allSatisfy({ tchar.contains($0) }) else { return [] }
        return ["chatd", "bearer.\(token)"]
    }

    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? s
    }

    private func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("chatctl smoke: \(message)\n".utf8))
        return ExitCode(1)
    }
}
