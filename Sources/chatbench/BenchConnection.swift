import NIOCore

/// One benchmark client: sends the upgrade by hand, then parses server frames (unmasked)
/// from its own buffer and reports only what the scenario needs — chat messages and, for
/// latency, the send time a sender put in the text. Lean on purpose: thousands of these
/// share a core with the load generator, so each frame costs a few comparisons.
final class BenchConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    struct Events: Sendable {
        /// Upgrade answered with 101 (or failed: the status line).
        var upgraded: @Sendable (Result<Void, BenchError>) -> Void = { _ in }
        /// A `message` event; `sentAt` is the sender's clock (nanoseconds) when the text is one.
        var message: @Sendable (_ sentAt: UInt64?) -> Void = { _ in }
        /// A `presence` event.
        var presence: @Sendable () -> Void = {}
        var closed: @Sendable () -> Void = {}
    }

    private let request: ByteBuffer
    private let events: Events
    private var buffer = ByteBuffer()
    private var upgraded = false

    init(host: String, port: Int, target: String, origin: String, deflate: Bool = false, events: Events) {
        // With `deflate`, permessage-deflate is offered as Chromium offers it (compressed
        // frames are then counted by type only when they arrive uncompressed).
        let offer = deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : ""
        request = ByteBuffer(
            string: "GET \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: \(origin)\r\n\(offer)\r\n")
        self.events = events
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(request), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !upgraded { events.upgraded(.failure(BenchError("closed during the upgrade"))) }
        events.closed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        buffer.writeBuffer(&chunk)
        if !upgraded {
            guard let headLength = buffer.withUnsafeReadableBytes({ Self.find(Array("\r\n\r\n".utf8), in: $0) }) else { return }
            let head = buffer.readString(length: headLength) ?? ""
            guard head.hasPrefix("HTTP/1.1 101") else {
                events.upgraded(.failure(BenchError(String(head.prefix { $0 != "\r" }))))
                context.close(promise: nil)
                return
            }
            upgraded = true
            events.upgraded(.success(()))
        }
        parseFrames(context: context)
    }

    private func parseFrames(context: ChannelHandlerContext) {
        while buffer.readableBytes >= 2 {
            let start = buffer.readerIndex
            let b0 = buffer.getInteger(at: start, as: UInt8.self)!
            let b1 = buffer.getInteger(at: start + 1, as: UInt8.self)!
            var length = Int(b1 & 0x7F)
            var offset = 2
            if length == 126 {
                guard buffer.readableBytes >= 4 else { return }
                length = Int(buffer.getInteger(at: start + 2, as: UInt16.self)!)
                offset = 4
            } else if length == 127 {
                guard buffer.readableBytes >= 10 else { return }
                length = Int(buffer.getInteger(at: start + 2, as: UInt64.self)!)
                offset = 10
            }
            guard buffer.readableBytes >= offset + length else { break }
            let opcode = b0 & 0x0F
            if opcode == 0x1 {
                handleText(at: start + offset, length: length)
            } else if opcode == 0x9 {
                // Answer the heartbeat so long runs are not cut off.
                context.writeAndFlush(NIOAny(BenchFrame.masked(opcode: 0xA, payload: [])), promise: nil)
            }
            buffer.moveReaderIndex(forwardBy: offset + length)
        }
        buffer.discardReadBytes()
    }

    private static let messagePrefix = Array(#"{"type":"message""#.utf8)
    private static let presencePrefix = Array(#"{"type":"presence""#.utf8)
    private static let textMarker = Array(#""text":"t"#.utf8)

    private func handleText(at index: Int, length: Int) {
        // Raw bytes and hand-written scans: generic Collection searches on ByteBufferView
        // cost more than the server's whole delivery.
        buffer.withUnsafeReadableBytes { all in
            let offset = index - buffer.readerIndex
            let bytes = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
            if Self.hasPrefix(bytes, Self.messagePrefix) {
                var sentAt: UInt64?
                if let end = Self.find(Self.textMarker, in: bytes) {
                    var value: UInt64 = 0
                    var i = end
                    while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                        value = value &* 10 &+ UInt64(bytes[i] - 48)
                        i += 1
                    }
                    sentAt = value
                }
                events.message(sentAt)
            } else if Self.hasPrefix(bytes, Self.presencePrefix) {
                events.presence()
            }
        }
    }

    private static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        guard bytes.count >= prefix.count else { return false }
        for i in 0..<prefix.count where bytes[i] != prefix[i] { return false }
        return true
    }

    /// The index just past the first occurrence of `pattern`.
    static func find(_ pattern: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= pattern.count, let first = pattern.first else { return nil }
        var i = 0
        outer: while i <= bytes.count - pattern.count {
            if bytes[i] == first {
                for j in 1..<pattern.count where bytes[i + j] != pattern[j] {
                    i += 1
                    continue outer
                }
                return i + pattern.count
            }
            i += 1
        }
        return nil
    }
}

enum BenchFrame {
    /// A client frame: masked, with an all-zero key so the payload goes as it is.
    static func masked(opcode: UInt8, payload: [UInt8]) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.writeInteger(0x80 | opcode)
        if payload.count < 126 {
            frame.writeInteger(UInt8(0x80 | payload.count))
        } else {
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(payload.count))
        }
        frame.writeInteger(UInt32(0))
        frame.writeBytes(payload)
        return frame
    }

    /// A chat message whose text is `t<nanoseconds>`: the latency probe.
    static func message(sentAt: UInt64) -> ByteBuffer {
        masked(opcode: 0x1, payload: Array(#"{"type":"message","text":"t\#(sentAt)"}"#.utf8))
    }
}

struct BenchError: Error, CustomStringConvertible, Sendable {
    var description: String
    init(_ description: String) { self.description = description }
}
