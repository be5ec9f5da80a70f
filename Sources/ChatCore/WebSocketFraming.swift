/// RFC 6455 framing without I/O: the head of a client frame read from bytes (with every
/// check RFC 6455 asks of a server), unmasking, and the head of a server frame.
///
/// chatd parses frames itself, in the session's one handler, instead of through NIO's
/// WebSocket decoder, encoder and their two pipeline handlers: an upgraded connection then
/// holds one handler and no buffer between reads (issue 15).
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// What a frame's first 2 to 14 bytes say.
public struct WebSocketFrameHead: Equatable, Sendable {
    public var fin: Bool
    /// RSV1: the frame's message is compressed (RFC 7692), when that was negotiated.
    public var rsv1: Bool
    public var opcode: WebSocketOpcode
    /// The four mask bytes, first byte in the high bits.
    public var maskKey: UInt32
    public var payloadLength: Int
    /// Bytes before the payload: 2, plus 2 or 8 for the length, plus 4 for the mask.
    public var headerLength: Int

    public init(fin: Bool, rsv1: Bool = false, opcode: WebSocketOpcode, maskKey: UInt32, payloadLength: Int, headerLength: Int) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.maskKey = maskKey
        self.payloadLength = payloadLength
        self.headerLength = headerLength
    }

    /// Header and payload: what the frame takes of the stream.
    public var frameLength: Int { headerLength + payloadLength }
}

public enum WebSocketFraming {
    public enum Parsed: Equatable, Sendable {
        /// The bytes end before the head does.
        case needMore
        case head(WebSocketFrameHead)
        /// The stream is not a client's WebSocket stream; close with this code. Nothing
        /// after it can be read as frames.
        case fail(CloseCode, String)
    }

    /// The head of the client frame at the start of `bytes`. A payload over `maxPayload`
    /// fails (1009) as soon as its length is read, before any of it is buffered. RSV1 is
    /// allowed on a data frame only when `rsv1Allowed` (permessage-deflate negotiated).
    public static func parseClientHead(_ bytes: UnsafeRawBufferPointer, maxPayload: Int, rsv1Allowed: Bool = false) -> Parsed {
        guard bytes.count >= 2 else { return .needMore }
        let first = bytes[0]
        let second = bytes[1]
        let fin = first & 0x80 != 0
        let rsv1 = first & 0x40 != 0
        if first & 0x30 != 0 { return .fail(.protocolError, "reserved bits set") }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else { return .fail(.protocolError, "unknown opcode") }
        if rsv1 && (!rsv1Allowed || opcode.isControl || opcode == .continuation) {
            return .fail(.protocolError, "reserved bits set")
        }
        guard second & 0x80 != 0 else { return .fail(.protocolError, "client frames must be masked") }
        let shortLength = Int(second & 0x7F)
        if opcode.isControl {
            if !fin { return .fail(.protocolError, "fragmented control frame") }
            if shortLength > 125 { return .fail(.protocolError, "control frame too long") }
        }
        let lengthBytes = shortLength == 127 ? 8 : shortLength == 126 ? 2 : 0
        let headerLength = 2 + lengthBytes + 4
        guard bytes.count >= headerLength else { return .needMore }
        var length = UInt64(shortLength)
        if lengthBytes > 0 {
            length = 0
            for index in 2..<(2 + lengthBytes) { length = length << 8 | UInt64(bytes[index]) }
            // The most significant bit must be 0 (RFC 6455 5.2); the shortest form is not
            // required of clients, so a longer one is accepted.
            if length >> 63 != 0 { return .fail(.protocolError, "bad frame length") }
        }
        // Capped below Int.max so that head plus payload (`frameLength`) cannot overflow.
        guard let payloadLength = Int(exactly: length), payloadLength <= min(maxPayload, Int.max - 16) else {
            return .fail(.messageTooBig, "frame too big")
        }
        var key: UInt32 = 0
        for index in (2 + lengthBytes)..<headerLength { key = key << 8 | UInt32(bytes[index]) }
        return .head(
            WebSocketFrameHead(
                fin: fin, rsv1: rsv1, opcode: opcode, maskKey: key, payloadLength: payloadLength, headerLength: headerLength))
    }

    /// Copies `source` into `target` (at least as long), unmasked with `key`; `offset` is
    /// the position of `source`'s first byte within the frame's payload.
    public static func unmask(_ source: UnsafeRawBufferPointer, key: UInt32, offset: Int = 0, into target: UnsafeMutableRawBufferPointer) {
        precondition(target.count >= source.count)
        let keyBytes: (UInt8, UInt8, UInt8, UInt8) = (
            UInt8(truncatingIfNeeded: key >> 24), UInt8(truncatingIfNeeded: key >> 16),
            UInt8(truncatingIfNeeded: key >> 8), UInt8(truncatingIfNeeded: key)
        )
        var index = 0
        var phase = offset & 3
        let count = source.count
        // Byte by byte up to a whole mask period, then eight bytes at a time.
        while index < count && phase != 0 {
            target[index] = source[index] ^ keyByte(keyBytes, phase)
            index += 1
            phase = (phase + 1) & 3
        }
        if count - index >= 8 {
            let word = UInt64(keyBytes.0) | UInt64(keyBytes.1) << 8 | UInt64(keyBytes.2) << 16 | UInt64(keyBytes.3) << 24
            let wide = word | word << 32
            while count - index >= 8 {
                let value = source.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                // The key bytes are laid out in memory order, so the word is little-endian.
                target.storeBytes(of: value ^ UInt64(littleEndian: wide), toByteOffset: index, as: UInt64.self)
                index += 8
            }
        }
        while index < count {
            target[index] = source[index] ^ keyByte(keyBytes, (offset &+ index) & 3)
            index += 1
        }
    }

    private static func keyByte(_ key: (UInt8, UInt8, UInt8, UInt8), _ phase: Int) -> UInt8 {
        switch phase {
        case 0: key.0
        case 1: key.1
        case 2: key.2
        default: key.3
        }
    }

    /// The length of a server frame's head (servers never mask).
    public static func serverHeadLength(payloadLength: Int) -> Int {
        payloadLength < 126 ? 2 : payloadLength <= Int(UInt16.max) ? 4 : 10
    }

    /// Writes a final (FIN) server frame's head into `target`, which holds at least
    /// `serverHeadLength(payloadLength:)` bytes; returns the bytes written.
    @discardableResult
    public static func writeServerHead(
        opcode: WebSocketOpcode, payloadLength: Int, rsv1: Bool = false, into target: UnsafeMutableRawBufferPointer
    ) -> Int {
        precondition(payloadLength >= 0)
        target[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode.rawValue
        if payloadLength < 126 {
            target[1] = UInt8(payloadLength)
            return 2
        }
        if payloadLength <= Int(UInt16.max) {
            target[1] = 126
            target[2] = UInt8(truncatingIfNeeded: payloadLength >> 8)
            target[3] = UInt8(truncatingIfNeeded: payloadLength)
            return 4
        }
        target[1] = 127
        let length = UInt64(payloadLength)
        for index in 0..<8 { target[2 + index] = UInt8(truncatingIfNeeded: length >> (8 * (7 - index))) }
        return 10
    }
}
