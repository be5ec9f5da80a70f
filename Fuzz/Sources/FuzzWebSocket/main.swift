import ChatCore

/// A client's byte stream after the upgrade, as `ChatSession` reads it: frame heads parsed
/// one after another and payloads unmasked, with the invariants the session relies on; and
/// the same bytes as a `Sec-WebSocket-Extensions` header for the permessage-deflate
/// negotiation. The first byte chooses the frame size limit and whether RSV1 is allowed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = data[0]
    let stream = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let maxPayload = control & 0x80 != 0 ? Int.max : 64 << Int(control & 0x0F)
    var offset = 0
    loop: while offset < stream.count {
        let rest = UnsafeRawBufferPointer(rebasing: stream[offset...])
        switch WebSocketFraming.parseClientHead(rest, maxPayload: maxPayload, rsv1Allowed: control & 0x40 != 0) {
        case .needMore:
            precondition(rest.count < 14, "a whole head was not read")
            break loop
        case .fail:
            break loop
        case let .head(head):
            precondition(head.payloadLength >= 0 && head.payloadLength <= maxPayload, "length out of bounds")
            precondition([6, 8, 14].contains(head.headerLength), "bad head length")
            precondition(!head.opcode.isControl || (head.fin && head.payloadLength <= 125), "bad control frame")
            guard rest.count >= head.frameLength else { break loop }
            let payload = UnsafeRawBufferPointer(rebasing: rest[head.headerLength..<head.frameLength])
            var target = [UInt8](repeating: 0, count: payload.count)
            target.withUnsafeMutableBytes { WebSocketFraming.unmask(payload, key: head.maskKey, offset: Int(control & 3), into: $0) }
            offset += head.frameLength
        }
    }
    let header = String(decoding: stream, as: UTF8.self)
    if let agreement = PerMessageDeflate.negotiate([header]) {
        precondition((9...15).contains(agreement.serverWindowBits), "window out of range")
        precondition(agreement.response.hasPrefix("permessage-deflate; server_no_context_takeover; client_no_context_takeover"))
    }
    return 0
}
