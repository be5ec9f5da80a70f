import Foundation
import NIOCore
import NIOPosix

/// A plain TCP connection for tests that need exact bytes and timing on one socket: several
/// requests in turn, a stall mid-request, or seeing when the server closes.
final class RawConnection: Sendable {
    let channel: any Channel
    private let collector: Collector

    /// Bytes in arrival order and whether the server closed; touched on the channel's loop.
    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        var closed = false
        var waiter: (check: @Sendable ([UInt8]) -> Int?, promise: EventLoopPromise<[UInt8]?>)?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var chunk = unwrapInboundIn(data)
            bytes += chunk.readBytes(length: chunk.readableBytes) ?? []
            poke()
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed = true
            poke()
            context.fireChannelInactive()
        }

        func poke() {
            guard let waiter else { return }
            if let end = waiter.check(bytes) {
                self.waiter = nil
                let out = Array(bytes[..<end])
                bytes.removeFirst(end)
                waiter.promise.succeed(out)
            } else if closed {
                self.waiter = nil
                waiter.promise.succeed(nil)
            }
        }
    }

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    /// `reading: false` never reads from the socket: a client that does not read its answers.
    /// `keepsOpen`: the server's FIN does not close this side (a client that never answers a
    /// close).
    static func open(port: Int, host: String = "127.0.0.1", reading: Bool = true, keepsOpen: Bool = false) async throws -> RawConnection {
        let collector = Collector()
        let channel = try await bootstrap(collector).channelOption(.autoRead, value: reading)
            .channelOption(.allowRemoteHalfClosure, value: keepsOpen).connect(host: host, port: port).get()
        return RawConnection(channel: channel, collector: collector)
    }

    static func open(unixPath: String, reading: Bool = true) async throws -> RawConnection {
        let collector = Collector()
        let channel = try await bootstrap(collector).channelOption(.autoRead, value: reading).connect(unixDomainSocketPath: unixPath).get()
        return RawConnection(channel: channel, collector: collector)
    }

    private static func bootstrap(_ collector: Collector) -> ClientBootstrap {
        ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
    }

    /// The next line (without its newline); nil once closed.
    func line() async throws -> String? {
        guard let raw = try await read(until: { bytes in bytes.firstIndex(of: 10).map { $0 + 1 } }) else { return nil }
        return String(decoding: raw.dropLast(), as: UTF8.self)
    }

    /// Reads until `done` says the bytes are enough (their count), or nil once the server closed.
    private func read(until done: @escaping @Sendable ([UInt8]) -> Int?) async throws -> [UInt8]? {
        let collector = self.collector
        let loop = channel.eventLoop
        return try await loop.flatSubmit {
            let promise = loop.makePromise(of: [UInt8]?.self)
            collector.waiter = (done, promise)
            collector.poke()
            return promise.futureResult
        }.get()
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// The next response: its head and a body of Content-Length bytes; nil once closed.
    func response() async throws -> (head: String, status: Int, body: String)? {
        guard
            let raw = try await read(until: { bytes in
                guard let end = Self.headEnd(bytes) else { return nil }
                let head = String(decoding: bytes[..<end], as: UTF8.self)
                let length = Self.contentLength(head) ?? 0
                return bytes.count >= end + 4 + length ? end + 4 + length : nil
            })
        else { return nil }
        let end = Self.headEnd(raw)!
        let head = String(decoding: raw[..<end], as: UTF8.self)
        let status = Int(head.split(separator: " ", maxSplits: 2).dropFirst().first ?? "") ?? 0
        return (head, status, String(decoding: raw[(end + 4)...], as: UTF8.self))
    }

    /// A 101 head; the bytes after it stay for `frame()`.
    func switchingProtocols() async throws -> String? {
        guard let raw = try await read(until: { Self.headEnd($0).map { $0 + 4 } }) else { return nil }
        return String(decoding: raw, as: UTF8.self)
    }

    /// The next unmasked server frame's payload as text.
    func frame() async throws -> (opcode: UInt8, text: String)? {
        guard
            let raw = try await read(until: { bytes in
                guard bytes.count >= 2 else { return nil }
                var length = Int(bytes[1] & 0x7F)
                var offset = 2
                if length == 126 {
                    guard bytes.count >= 4 else { return nil }
                    length = Int(bytes[2]) << 8 | Int(bytes[3])
                    offset = 4
                } else if length == 127 {
                    guard bytes.count >= 10 else { return nil }
                    length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
                    offset = 10
                }
                return bytes.count >= offset + length ? offset + length : nil
            })
        else { return nil }
        let offset = raw[1] & 0x7F == 126 ? 4 : raw[1] & 0x7F == 127 ? 10 : 2
        return (raw[0] & 0x0F, String(decoding: raw[offset...], as: UTF8.self))
    }

    /// Waits for the server to close; true when it did within `timeout`. (NIO closes the
    /// channel on the server's FIN, as half-closure is not enabled.)
    func closedByServer(within timeout: Duration) async -> Bool {
        let channel = self.channel
        let decided = channel.eventLoop.makePromise(of: Bool.self)
        let timer = channel.eventLoop.scheduleTask(
            in: .nanoseconds(
                Int64(timeout.components.seconds) * 1_000_000_000
                    + timeout.components.attoseconds / 1_000_000_000)
        ) {
            decided.succeed(false)
        }
        channel.closeFuture.whenComplete { _ in
            timer.cancel()
            decided.succeed(true)
        }
        return (try? await decided.futureResult.get()) ?? false
    }

    func close() async {
        try? await channel.close()
    }

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    static func contentLength(_ head: String) -> Int? {
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            return Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
