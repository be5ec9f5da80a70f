import ChatCore
import NIOCore

/// Turns data frames into whole messages: fragment reassembly with a byte bound, RFC 6455
/// sequencing rules, and UTF-8 validation of text. (Each frame's head was checked by
/// `WebSocketFraming.parseClientHead`; its payload arrives unmasked.)
struct MessageAssembler {
    enum Output {
        case none
        case text(ByteBuffer)
        case binary(ByteBuffer)
        case fail(CloseCode, String)
    }

    /// The bounds come with each frame (`Limits`, from the session's settings): kept here,
    /// they were 16 bytes more in every idle connection.
    struct Limits {
        var maxBytes: Int
        var maxFragments: Int
    }

    // In this order the one-byte fields share the buffer's last word (40 bytes, not 49).
    private var buffer: ByteBuffer?
    private var opcode: WebSocketOpcode?
    /// The message's first frame had RSV1: it is permessage-deflate compressed.
    private var compressed = false
    private var fragments = 0

    /// Inflates a whole compressed message to at most `maxBytes`.
    typealias Inflate = (ByteBuffer, _ maxBytes: Int) -> Result<ByteBuffer, MessageCompression.InflateFailure>

    /// `inflate` is given compressed messages (RSV1 on their first frame; the frame parser
    /// allows it only where permessage-deflate was negotiated).
    mutating func feed(_ head: WebSocketFrameHead, _ payload: ByteBuffer, limits: Limits, inflate: Inflate) -> Output {
        let (maxBytes, maxFragments) = (limits.maxBytes, limits.maxFragments)
        var data = payload
        switch head.opcode {
        case .text, .binary:
            guard opcode == nil else { return .fail(.protocolError, "new message before the last one ended") }
            if data.readableBytes > maxBytes { return .fail(.messageTooBig, "message too big") }
            compressed = head.rsv1
            if head.fin { return finish(head.opcode, data, maxBytes: maxBytes, inflate: inflate) }
            opcode = head.opcode
            buffer = data
            fragments = 1
            return .none
        case .continuation:
            guard let current = opcode, var pending = buffer else {
                return .fail(.protocolError, "continuation without a message")
            }
            // Released before it grows, so the append below does not copy it.
            buffer = nil
            if pending.readableBytes + data.readableBytes > maxBytes { return .fail(.messageTooBig, "message too big") }
            fragments += 1
            if fragments > maxFragments { return .fail(.messageTooBig, "too many fragments") }
            pending.writeBuffer(&data)
            if head.fin {
                opcode = nil
                return finish(current, pending, maxBytes: maxBytes, inflate: inflate)
            }
            buffer = pending
            return .none
        default:
            return .none
        }
    }

    private func finish(_ opcode: WebSocketOpcode, _ raw: ByteBuffer, maxBytes: Int, inflate: Inflate) -> Output {
        var data = raw
        if compressed {
            switch inflate(raw, maxBytes) {
            case let .success(inflated): data = inflated
            case .failure(.tooBig): return .fail(.messageTooBig, "message too big")
            case .failure(.corrupt): return .fail(.invalidPayload, "bad compressed data")
            }
        }
        guard opcode == .text else { return .binary(data) }
        guard String(validating: data.readableBytesView, as: UTF8.self) != nil else {
            return .fail(.invalidPayload, "text is not valid UTF-8")
        }
        return .text(data)
    }
}
