public import NIOCore
public import NIOPosix
public import NIOWebSocket

/// A small WebSocket client on SwiftNIO for `chatctl smoke` and the tests. It reads the
/// server's HTTP answer itself, so a refused upgrade comes back with its exact status, and
/// it can send what a browser never would (bad frames, raw bytes) to test the server.
public final class WebSocketClient: Sendable {
    public let channel: any Channel
    private let mailbox: Mailbox
    /// The statuses of the plain requests sent before the upgrade (`before`), in order.
    public let statusesBefore: [Int]
    /// The subprotocol the server selected, if any.
    public let subprotocol: String?

    private init(channel: any Channel, mailbox: Mailbox, handshake: HandshakeResult) {
        self.channel = channel
        self.mailbox = mailbox
        statusesBefore = handshake.statuses
        subprotocol = handshake.subprotocol
    }

    /// Connects and performs the upgrade.
    /// - Parameters:
    ///   - origin: the `Origin` header; nil sends none.
    ///   - protocols: offered in `Sec-WebSocket-Protocol` (chatd's `["chatd", "bearer.TOKEN"]`
    ///     keeps the token out of the URL); a selection not offered fails the connection.
    ///   - before: plain HTTP requests sent first on the same connection, each answered
    ///     before the next (a proxy's kept-alive connection); `pipelined` writes them and the
    ///     upgrade at once.
    ///   - trailing: bytes written right behind the upgrade request (e.g. a frame).
    ///   - autoPong: answer pings (as browsers do); false to test the heartbeat.
    public static func connect(
        to url: WebSocketURL,
        origin: String?,
        headers: [(String, String)] = [],
        protocols: [String] = [],
        before: [String] = [],
        pipelined: Bool = false,
        trailing: [UInt8] = [],
        autoPong: Bool = true,
        timeout: Duration = .seconds(5),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WebSocketClient {
        var request = "GET \(url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(Self.randomKey())\r\nSec-WebSocket-Version: 13\r\n"
        if let origin { request += "Origin: \(origin)\r\n" }
        if !protocols.isEmpty { request += "Sec-WebSocket-Protocol: \(protocols.joined(separator: ", "))\r\n" }
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let handshake = request

        let loop = group.next()
        let mailbox = Mailbox(loop: loop)
        let upgraded = loop.makePromise(of: HandshakeResult.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.nanoseconds(timeout.nanoseconds))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            HandshakeHandler(
                                request: handshake, before: before, pipelined: pipelined, trailing: trailing,
                                protocols: protocols, mailbox: mailbox, autoPong: autoPong, promise: upgraded)
                        )
                    }
                }
                .connect(host: url.host, port: url.port).get()
        } catch {
            upgraded.fail(error)
            throw ClientError.connectionFailed(Self.describe(error))
        }
        let timer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            upgraded.fail(ClientError.timeout("waiting for the upgrade response"))
        }
        let result: HandshakeResult
        do {
            result = try await upgraded.futureResult.get()
            timer.cancel()
        } catch let rejected as RejectedResponse {
            timer.cancel()
            channel.close(promise: nil)
            throw ClientError.rejected(status: rejected.head.status, body: rejected.body)
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            throw error
        }
        return WebSocketClient(channel: channel, mailbox: mailbox, handshake: result)
    }

    /// Sends one masked frame.
    public func send(opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true) async throws {
        let frame = WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: ByteBuffer(bytes: bytes))
        try await channel.writeAndFlush(frame)
    }

    public func send(text: String) async throws {
        try await send(opcode: .text, Array(text.utf8))
    }

    /// Writes bytes straight to the socket, below the frame encoder.
    public func sendRaw(_ bytes: [UInt8]) async throws {
        let channel = self.channel
        try await channel.eventLoop.flatSubmit {
            do {
                let context = try channel.pipeline.syncOperations.context(handlerType: HandshakeHandler.self)
                return context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)))
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }

    /// The next event, or `ClientError.timeout`.
    public func next(timeout: Duration = .seconds(5)) async throws -> ClientEvent {
        try await mailbox.next(timeout: timeout, what: "waiting for the server")
    }

    /// Skips events until `match` accepts one; returns it.
    public func next<T>(timeout: Duration = .seconds(5), where match: (ClientEvent) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw ClientError.timeout("waiting for a matching event") }
            if let value = match(try await mailbox.next(timeout: left, what: "waiting for a matching event")) { return value }
        }
    }

    /// Sends a close frame and waits (briefly) for the server's close and disconnect.
    public func close(code: UInt16 = 1000, reason: String = "") async {
        var payload = [UInt8(code >> 8), UInt8(code & 0xFF)]
        payload.append(contentsOf: reason.utf8)
        try? await send(opcode: .connectionClose, payload)
        _ = try? await next(timeout: .seconds(2)) { event -> Bool? in event == .disconnected ? true : nil }
        try? await channel.close()
    }

    /// A masked frame as bytes, for `trailing` and raw writes.
    public static func frameBytes(opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | UInt8(webSocketOpcode: opcode)]
        let n = payload.count
        if n < 126 {
            out.append(0x80 | UInt8(n))
        } else if n <= 0xFFFF {
            out += [0x80 | 126, UInt8(n >> 8), UInt8(n & 0xFF)]
        } else {
            out.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> UInt64(shift))) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        out += mask
        for (i, byte) in payload.enumerated() { out.append(byte ^ mask[i % 4]) }
        return out
    }

    static func randomKey() -> String {
        var bytes: [UInt8] = []
        for _ in 0..<16 { bytes.append(UInt8.random(in: 0...255)) }
        return Base64.encode(bytes)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? IOError { return e.description }
        if let e = error as? ChannelError, case .connectTimeout = e { return "connect timed out" }
        if "\(error)".contains("connectionRefused") || "\(error)".contains("Connection refused") { return "connection refused" }
        return "\(error)"
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
