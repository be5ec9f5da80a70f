import ChatConfig
import ChatCore
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import ChatServer

/// ChatSession on an EmbeddedChannel (issue 14, item 2): the adapter carries out what the
/// domain decides — frames in, frames out — with no socket and no store (rooms are held in
/// memory, as with `history.path = ""`).
@Suite struct ChatSessionEmbeddedTests {
    /// One session in a channel of its own, on a hub whose only loop is the channel's.
    final class Harness {
        let channel = EmbeddedChannel()
        let hub: Hub
        let session: ChatSession
        let metrics = ChatMetrics()

        init(
            name: String = "ann", room: String = "lobby", deflate: Int = 0, _ configure: (inout Config) -> Void = { _ in }
        ) throws {
            var config = Config()
            config.auth.allowedOrigins = ["http://localhost:8080"]
            configure(&config)
            let settings = try Settings(config)
            hub = try Hub(loops: [channel.embeddedEventLoop], metrics: metrics)
            let identity = Identity(name: name, role: .user, userKey: "credential:\(name)")
            let attempt = UpgradeGate.Attempt(credential: "secret", guestName: name, room: room)
            guard case let .accept(session) = UpgradeGate.admit(attempt, as: identity, rule: RoomRule()) else {
                throw ChannelError.inappropriateOperationForState
            }
            self.session = ChatSession(
                session: session, address: "192.0.2.1", hub: hub, moderation: Moderation(hub: hub, logger: Logger(label: "t")),
                limits: ClientLimits(), settings: settings, deflateWindowBits: deflate)
            try channel.pipeline.syncOperations.addHandler(self.session)
            try channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 1)).wait()
        }

        /// Reads (each a frame, or any bytes) the session took in one read pass, then the pass's end.
        func read(_ frames: [ByteBuffer]) {
            for frame in frames { channel.pipeline.syncOperations.fireChannelRead(NIOAny(frame)) }
            channel.pipeline.syncOperations.fireChannelReadComplete()
            channel.embeddedEventLoop.run()
        }

        func send(_ json: String) { read([Self.frame(.text, Array(json.utf8))]) }

        /// A message from someone else (the publish API's way in).
        func broadcast(_ text: String, room: String) {
            hub.publish(room: room, from: "api", text: text, historyWindow: 50)
            channel.embeddedEventLoop.run()
        }

        /// Everything written to the socket so far, as frames.
        func written() throws -> [Frame] {
            channel.embeddedEventLoop.run()
            var frames: [Frame] = []
            while var bytes = try channel.readOutbound(as: ByteBuffer.self) {
                while let frame = Frame.parse(&bytes) { frames.append(frame) }
            }
            return frames
        }

        func events() throws -> [[String: Any]] {
            try written().compactMap { $0.opcode == 0x1 ? $0.json : nil }
        }

        /// A client frame as a browser sends it: masked, the shortest length form.
        static func frame(
            _ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, first: UInt8? = nil, masked: Bool = true
        ) -> ByteBuffer {
            let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
            var bytes: [UInt8] = [first ?? ((fin ? 0x80 : 0) | opcode.rawValue)]
            let maskBit: UInt8 = masked ? 0x80 : 0
            if payload.count < 126 {
                bytes.append(maskBit | UInt8(payload.count))
            } else if payload.count <= 0xFFFF {
                bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            } else {
                bytes.append(maskBit | 127)
                bytes += (0..<8).map { UInt8(truncatingIfNeeded: UInt64(payload.count) >> (8 * (7 - $0))) }
            }
            if masked { bytes += mask }
            bytes += payload.enumerated().map { masked ? $1 ^ mask[$0 % 4] : $1 }
            return ByteBuffer(bytes: bytes)
        }
    }

    /// A server frame: unmasked, FIN set.
    struct Frame {
        var opcode: UInt8
        var payload: [UInt8]
        var rsv1 = false

        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] }
        var closeCode: Int? { opcode == 0x8 && payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil }
        var closeReason: String { String(decoding: payload.dropFirst(2), as: UTF8.self) }

        static func parse(_ bytes: inout ByteBuffer) -> Frame? {
            guard let head = bytes.readInteger(as: UInt8.self), let short = bytes.readInteger(as: UInt8.self) else { return nil }
            var length = Int(short & 0x7f)
            if length == 126 {
                length = Int(bytes.readInteger(as: UInt16.self) ?? 0)
            } else if length == 127 {
                length = Int(bytes.readInteger(as: UInt64.self) ?? 0)
            }
            guard let payload = bytes.readBytes(length: length) else { return nil }
            return Frame(opcode: head & 0x0f, payload: payload, rsv1: head & 0x40 != 0)
        }
    }

    @Test func theWelcomeIsTheArticlesAndAMessageComesBack() throws {
        let h = try Harness()
        let welcome = try h.events()
        #expect(welcome.map { $0["type"] as? String } == ["system", "history", "presence"])
        #expect((welcome[0]["message"] as? String) == "connected as ann")
        h.send(#"{"type":"message","text":"hello"}"#)
        let echoed = try h.events()
        #expect(echoed.count == 1)
        #expect(((echoed.first?["message"] as? [String: Any])?["text"] as? String) == "hello")
    }

    @Test func aBadRequestGetsAnErrorAndTheSessionGoesOn() throws {
        let h = try Harness()
        _ = try h.written()
        h.send(#"{"type":"message","text":"x","room":"elsewhere"}"#)
        h.send("not json")
        #expect(try h.events().map { $0["code"] as? String } == ["not_joined", "bad_json"])
        h.send(#"{"type":"ping"}"#)
        #expect(try h.events().map { $0["type"] as? String } == ["pong"])
    }

    /// Past its quota a client is answered `rate_limited`; more than the strikes allowed in a
    /// row, and it is closed with 1008.
    @Test func aTextFloodIsRefusedThenClosed() throws {
        let h = try Harness { $0.limits.rateMessages = 2 }
        _ = try h.written()
        h.read((0..<60).map { _ in Harness.frame(.text, Array(#"{"type":"ping"}"#.utf8)) })
        let frames = try h.written()
        let codes = frames.compactMap { $0.json?["code"] as? String }
        #expect(frames.filter { $0.json?["type"] as? String == "pong" }.count == 2)
        #expect(codes.count == ConnectionBounds.strikesAllowed(rateMessages: 2))
        #expect(codes.allSatisfy { $0 == "rate_limited" })
        #expect(frames.last?.closeCode == 1008)
        #expect(frames.last?.closeReason == "too many messages: slow down")
    }

    /// Every frame of a fragmented message costs quota: a flood of continuation frames is
    /// closed like any other (it once cost one strike per 128 frames and was never closed).
    @Test func aFloodOfFragmentsIsClosed() throws {
        let h = try Harness { $0.limits.rateMessages = 2 }
        _ = try h.written()
        let message =
            [Harness.frame(.text, [], fin: false)] + (0..<126).map { _ in Harness.frame(.continuation, [], fin: false) }
            + [Harness.frame(.continuation, Array("x".utf8))]
        h.read(message)
        let frames = try h.written()
        #expect(frames.last?.closeCode == 1008)
        #expect(frames.last?.closeReason == "too many messages: slow down")
        // Two fragments within the quota make one message, answered once.
        let calm = try Harness { $0.limits.rateMessages = 2 }
        _ = try calm.written()
        calm.read([Harness.frame(.text, Array(#"{"type":"#.utf8), fin: false), Harness.frame(.continuation, Array(#""ping"}"#.utf8))])
        #expect(try calm.events().map { $0["type"] as? String } == ["pong"])
    }

    /// The CI failure this issue's session met: while the session could not answer (its
    /// socket behind), a flood was only held; quota is now taken on arrival.
    @Test func aFloodWhileTheSocketIsBehindIsClosedWithoutBeingAnswered() throws {
        let h = try Harness { $0.limits.rateMessages = 2 }
        _ = try h.written()
        h.channel.isWritable = false
        h.read((0..<60).map { _ in Harness.frame(.text, Array("x".utf8)) })
        let frames = try h.written()
        #expect(frames.count == 1)
        #expect(frames.first?.closeCode == 1008)
        #expect(frames.first?.closeReason == "too many messages: slow down")
    }

    /// Requests that waited for the socket are answered in order once it drains.
    @Test func requestsWaitingForTheSocketAreAnsweredInOrder() throws {
        let h = try Harness()
        _ = try h.written()
        h.channel.isWritable = false
        h.send(#"{"type":"ping"}"#)
        h.send("nonsense")
        h.send(#"{"type":"leave","room":"lobby"}"#)
        #expect(try h.written().isEmpty)
        h.channel.isWritable = true
        h.channel.pipeline.syncOperations.fireChannelWritabilityChanged()
        #expect(try h.events().map { ($0["type"] as? String) ?? "" } == ["pong", "error", "left"])
    }

    /// Dozens of pongs in one read are a flood, like dozens of pings.
    @Test func aPongFloodIsClosed() throws {
        let h = try Harness()
        _ = try h.written()
        let pongs = (0..<(ControlFrameBudget.perRead + 1)).map { _ in Harness.frame(.pong, []) }
        for _ in 0...ConnectionBounds.strikesAllowed(rateMessages: 20) { h.read(pongs) }
        #expect(try h.written().last?.closeCode == 1008)
        // A client answering pings, a pong or two per read, is never closed for it.
        let calm = try Harness()
        _ = try calm.written()
        for _ in 0..<200 { calm.read([Harness.frame(.pong, [1, 2])]) }
        #expect(try calm.written().isEmpty)
    }

    /// A member of a `disconnect` room whose socket is behind is closed with 1013 by the
    /// next broadcast; a `drop_oldest` member keeps the newest and is told what it missed.
    @Test func slowConsumersFollowTheirRoomsPolicy() throws {
        let chat = try Harness(room: "chat")
        _ = try chat.written()
        chat.channel.isWritable = false
        chat.broadcast("one", room: "chat")
        let closed = try chat.written()
        #expect(closed.last?.closeCode == 1013)

        let dash = try Harness(room: "dash") {
            $0.rooms.rules["dash"] = RoomRule(send: .members, slowConsumer: .dropOldest)
            $0.limits.sendQueueFrames = 2
        }
        _ = try dash.written()
        dash.channel.isWritable = false
        for n in 1...5 { dash.broadcast("m\(n)", room: "dash") }
        #expect(try dash.written().isEmpty)
        dash.channel.isWritable = true
        dash.channel.pipeline.syncOperations.fireChannelWritabilityChanged()
        let events = try dash.events()
        #expect((events.first?["type"] as? String) == "missed")
        #expect((events.first?["count"] as? Int) == 3)
        #expect(events.dropFirst().map { (($0["message"] as? [String: Any])?["text"] as? String) ?? "" } == ["m4", "m5"])
    }

    // MARK: Framing (chatd's own parser, issue 15)

    /// Frames as TCP delivers them: several in one read, or one cut anywhere across reads.
    @Test func framesAreTakenWhateverTheReadsCutThemInto() throws {
        // Answered at once, in order: ping, a long request that is not JSON (2-byte length), ping.
        let requests = [#"{"type":"ping"}"#, String(repeating: "é", count: 200), #"{"type":"ping"}"#]
        var stream = ByteBuffer()
        for request in requests {
            var frame = Harness.frame(.text, Array(request.utf8))
            stream.writeBuffer(&frame)
        }
        for cut in [stream.readableBytes, 1, 3, 7] {
            let h = try Harness()
            _ = try h.written()
            var rest = stream
            var reads: [ByteBuffer] = []
            while rest.readableBytes > 0 { reads.append(rest.readSlice(length: min(cut, rest.readableBytes))!) }
            h.read(reads)
            let types = try h.events().map { ($0["type"] as? String) ?? "" }
            #expect(types == ["pong", "error", "pong"], "reads of \(cut) bytes")
            #expect(h.session.partialFrame == nil)
        }
    }

    /// What RFC 6455 forbids of a client closes with 1002 (1009 for a frame over
    /// `limits.max_frame_bytes`, before its payload is read), and nothing after it is parsed.
    @Test func aMalformedFrameClosesAndNothingAfterItIsRead() throws {
        let cases: [(ByteBuffer, Int, String)] = [
            (Harness.frame(.text, Array("x".utf8), masked: false), 1002, "client frames must be masked"),
            (Harness.frame(.text, Array("x".utf8), first: 0x81 | 0x40), 1002, "reserved bits set"),
            (Harness.frame(.text, Array("x".utf8), first: 0x83), 1002, "unknown opcode"),
            (Harness.frame(.ping, Array(repeating: 0, count: 126)), 1002, "control frame too long"),
            (Harness.frame(.ping, [], first: 0x09), 1002, "fragmented control frame"),
            (Harness.frame(.continuation, Array("x".utf8)), 1002, "continuation without a message"),
            (ByteBuffer(bytes: [0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]), 1002, "bad frame length"),
            (ByteBuffer(bytes: [0x81, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1]), 1009, "frame too big"),
            (Harness.frame(.text, [0xC3, 0x28]), 1007, "text is not valid UTF-8"),
        ]
        for (bad, code, reason) in cases {
            let h = try Harness { $0.limits.maxFrameBytes = 1 << 20 }
            _ = try h.written()
            h.read([bad, Harness.frame(.text, Array(#"{"type":"ping"}"#.utf8))])
            let frames = try h.written()
            #expect(frames.count == 1, "\(reason)")
            #expect(frames.last?.closeCode == code, "\(reason)")
            #expect(frames.last?.closeReason == reason)
        }
    }

    /// A client that goes on sending garbage after the close is cut off, not read for the
    /// rest of the grace period.
    @Test func garbageAfterAProtocolErrorIsCutOff() throws {
        let h = try Harness()
        _ = try h.written()
        h.read([Harness.frame(.text, Array("x".utf8), masked: false)])
        #expect(try h.written().last?.closeCode == 1002)
        for _ in 0...ConnectionBounds.framesWhileClosing { h.read([ByteBuffer(bytes: [0x00, 0x01, 0x02])]) }
        #expect(!h.channel.isActive)
    }

    // MARK: permessage-deflate (issue 15)

    /// A client message compressed as a browser compresses it (no context takeover).
    static func deflated(_ text: String) -> [UInt8] {
        let packed = MessageCompression().deflate(
            ByteBuffer(string: text), windowBits: 15, level: 6, always: true, allocator: ByteBufferAllocator())!
        return Array(packed.readableBytesView)
    }

    static func inflated(_ payload: [UInt8]) -> String? {
        guard
            case let .success(text) = MessageCompression().inflate(
                ByteBuffer(bytes: payload), maxBytes: 1 << 20, allocator: ByteBufferAllocator())
        else { return nil }
        return String(buffer: text)
    }

    @Test func compressedRequestsAreReadAndLongRepliesGoCompressed() throws {
        let h = try Harness(deflate: 15)
        let welcome = try h.written()
        // The short welcome events stay plain (under compression.min_bytes).
        #expect(welcome.allSatisfy { !$0.rsv1 })
        h.read([Harness.frame(.text, Self.deflated(#"{"type":"ping"}"#), first: 0xC1)])
        #expect(try h.events().map { $0["type"] as? String } == ["pong"])
        // A long reply goes compressed, and inflates to what it was.
        let long = String(repeating: #"{"type":"message"}"#, count: 20)
        var encoded = h.session.dataFrame(.text, Array(long.utf8), allocator: ByteBufferAllocator())
        let reply = Frame.parse(&encoded)
        #expect(reply?.rsv1 == true)
        #expect(reply.flatMap { Self.inflated($0.payload) } == long)
        // A compressed message in two fragments: RSV1 on the first only.
        let packed = Self.deflated(#"{"type":"ping"}"#)
        h.read([
            Harness.frame(.text, Array(packed.prefix(3)), first: 0x41),
            Harness.frame(.continuation, Array(packed.dropFirst(3))),
        ])
        #expect(try h.events().map { $0["type"] as? String } == ["pong"])
    }

    /// A small compressed message may not inflate past limits.max_frame_bytes (a zip bomb),
    /// and data zlib refuses closes with 1007.
    @Test func aCompressedMessageIsBoundedAndCheckedWhenInflated() throws {
        let bomb = try Harness(deflate: 15) { $0.limits.maxFrameBytes = 4096 }
        _ = try bomb.written()
        let packed = Self.deflated(String(repeating: "a", count: 100_000))
        #expect(packed.count < 4096)
        bomb.read([Harness.frame(.text, packed, first: 0xC1)])
        #expect(try bomb.written().last?.closeCode == 1009)

        let corrupt = try Harness(deflate: 15)
        _ = try corrupt.written()
        corrupt.read([Harness.frame(.text, [0xFF, 0xFF, 0xFF, 0xFF], first: 0xC1)])
        let frames = try corrupt.written()
        #expect(frames.last?.closeCode == 1007)
        #expect(frames.last?.closeReason == "bad compressed data")

        // Without permessage-deflate, RSV1 is a protocol error.
        let plain = try Harness()
        _ = try plain.written()
        plain.read([Harness.frame(.text, Self.deflated(#"{"type":"ping"}"#), first: 0xC1)])
        #expect(try plain.written().last?.closeCode == 1002)
    }

    /// One broadcast, compressed once, reaches a compressing member compressed and a plain
    /// one plain; both read the same event.
    @Test func aBroadcastReachesEachMemberInItsOwnForm() throws {
        let h = try Harness(deflate: 15)
        _ = try h.written()
        let long = String(repeating: "a long broadcast ", count: 20)
        h.broadcast(long, room: "lobby")
        let frames = try h.written()
        let message = frames.first { $0.rsv1 }
        #expect(message != nil)
        #expect(message.flatMap { Self.inflated($0.payload) }?.contains(long) == true)
    }
}
