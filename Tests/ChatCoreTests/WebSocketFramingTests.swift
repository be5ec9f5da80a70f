import Testing

@testable import ChatCore

@Suite struct WebSocketFramingTests {
    func parse(_ bytes: [UInt8], max: Int = 1 << 20, rsv1: Bool = false) -> WebSocketFraming.Parsed {
        bytes.withUnsafeBytes { WebSocketFraming.parseClientHead($0, maxPayload: max, rsv1Allowed: rsv1) }
    }

    /// Every length form, and every prefix of a head is "need more", never a wrong head.
    @Test func headsOfEveryLengthForm() {
        let key: [UInt8] = [1, 2, 3, 4]
        let forms: [([UInt8], Int, Int)] = [
            ([0x81, 0x80 | 5] + key, 5, 6),
            ([0x82, 0x80 | 126, 0x01, 0x00] + key, 256, 8),
            ([0x81, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0] + key, 65536, 14),
            // A longer length form than needed is allowed of clients.
            ([0x81, 0x80 | 126, 0x00, 0x05] + key, 5, 8),
        ]
        for (bytes, length, headLength) in forms {
            guard case let .head(head) = parse(bytes) else {
                Issue.record("no head for \(bytes)")
                continue
            }
            #expect(head.payloadLength == length)
            #expect(head.headerLength == headLength)
            #expect(head.maskKey == 0x0102_0304)
            for cut in 0..<bytes.count { #expect(parse(Array(bytes.prefix(cut))) == .needMore) }
        }
    }

    @Test func whatAServerMustRefuse() {
        #expect(parse([0x81, 0x05]) == .fail(.protocolError, "client frames must be masked"))
        #expect(parse([0xC1, 0x80, 0, 0, 0, 0]) == .fail(.protocolError, "reserved bits set"))
        #expect(parse([0xA1, 0x80, 0, 0, 0, 0]) == .fail(.protocolError, "reserved bits set"))
        #expect(parse([0x85, 0x80, 0, 0, 0, 0]) == .fail(.protocolError, "unknown opcode"))
        #expect(parse([0x0A, 0x80, 0, 0, 0, 0]) == .fail(.protocolError, "fragmented control frame"))
        #expect(parse([0x89, 0x80 | 126, 0, 126, 0, 0, 0, 0]) == .fail(.protocolError, "control frame too long"))
        #expect(parse([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == .fail(.protocolError, "bad frame length"))
        #expect(parse([0x82, 0x80 | 126, 0x10, 0x01, 0, 0, 0, 0], max: 4096) == .fail(.messageTooBig, "frame too big"))
        // The largest length there is fails as too big, not by trapping on conversion.
        #expect(
            parse([0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0], max: .max)
                == .fail(.messageTooBig, "frame too big"))
        // RSV1 (permessage-deflate) only when negotiated, and only on a message's first frame.
        if case .head(let head) = parse([0xC1, 0x80, 0, 0, 0, 0], rsv1: true) { #expect(head.rsv1) } else { Issue.record("rsv1") }
        #expect(parse([0xC0, 0x80, 0, 0, 0, 0], rsv1: true) == .fail(.protocolError, "reserved bits set"))
        #expect(parse([0xC9, 0x80, 0, 0, 0, 0], rsv1: true) == .fail(.protocolError, "reserved bits set"))
    }

    /// The word-at-a-time unmasking agrees with the definition (byte i ^ key[i % 4]) at every
    /// length and every starting offset within the payload.
    @Test func unmaskingMatchesTheDefinition() {
        let key: UInt32 = 0x37FA_213D
        let keyBytes: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            for offset in 0..<5 {
                let source = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                var target = [UInt8](repeating: 0, count: length)
                source.withUnsafeBytes { src in
                    target.withUnsafeMutableBytes { WebSocketFraming.unmask(src, key: key, offset: offset, into: $0) }
                }
                let expected = source.enumerated().map { $1 ^ keyBytes[($0 + offset) % 4] }
                #expect(target == expected, "length \(length) offset \(offset)")
            }
        }
    }

    @Test func serverHeadsUseTheShortestForm() {
        for (length, expected) in [
            (0, [0x81, 0]), (125, [0x81, 125]), (126, [0x81, 126, 0, 126]), (65535, [0x81, 126, 0xFF, 0xFF]),
            (65536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] as [(Int, [UInt8])] {
            var bytes = [UInt8](repeating: 0, count: 10)
            let count = bytes.withUnsafeMutableBytes { WebSocketFraming.writeServerHead(opcode: .text, payloadLength: length, into: $0) }
            #expect(count == WebSocketFraming.serverHeadLength(payloadLength: length))
            #expect(Array(bytes.prefix(count)) == expected)
        }
        var bytes = [UInt8](repeating: 0, count: 2)
        bytes.withUnsafeMutableBytes { _ = WebSocketFraming.writeServerHead(opcode: .ping, payloadLength: 3, rsv1: true, into: $0) }
        #expect(bytes == [0xC9, 3])
    }
}
