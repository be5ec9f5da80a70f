import ChatCore
import NIOCore
import NIOWebSocket

/// Turns data frames into whole messages: fragment reassembly with a byte bound, RFC 6455
/// sequencing rules, masking, reserved bits, and UTF-8 validation of text.
struct MessageAssembler {
    enum Output {
        case none
        case text(ByteBuffer)
        case binary(ByteBuffer)
        case fail(CloseCode, String)
    }

    var maxBytes: Int
    var maxFragments: Int
    private var opcode: WebSocketOpcode?
    private var buffer: ByteBuffer?
    private var fragments = 0

    init(maxBytes: Int, maxFragments: Int = 128) {
        self.maxBytes = maxBytes
        self.maxFragments = maxFragments
    }

    /// Checks every frame, data or control, for what RFC 6455 forbids of a client.
    static func validate(_ frame: WebSocketFrame) -> (CloseCode, String)? {
        if frame.rsv1 || frame.rsv2 || frame.rsv3 { return (.protocolError, "reserved bits set") }
        if frame.maskKey == nil { return (.protocolError, "client frames must be masked") }
        switch frame.opcode {
        case .text, .binary, .continuation, .ping, .pong, .connectionClose: return nil
        default: return (.protocolError, "unknown opcode")
        }
    }

    mutating func feed(_ frame: WebSocketFrame) -> Output {
        var data = frame.unmaskedData
        switch frame.opcode {
        case .text, .binary:
            guard opcode == nil else { return .fail(.protocolError, "new message before the last one ended") }
            if data.readableBytes > maxBytes { return .fail(.messageTooBig, "message too big") }
            if frame.fin { return finish(frame.opcode, data) }
            opcode = frame.opcode
            buffer = data
            fragments = 1
            return .none
        case .continuation:
            guard let current = opcode, var pending = buffer else {
                return .fail(.protocolError, "continuation without a message")
            }
            if pending.readableBytes + data.readableBytes > maxBytes { return .fail(.messageTooBig, "message too big") }
            fragments += 1
            if fragments > maxFragments { return .fail(.messageTooBig, "too many fragments") }
            pending.writeBuffer(&data)
            if frame.fin {
                opcode = nil
                buffer = nil
                return finish(current, pending)
            }
            buffer = pending
            return .none
        default:
            return .none
        }
    }

    private func finish(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> Output {
        guard opcode == .text else { return .binary(data) }
        guard String(validating: data.readableBytesView, as: UTF8.self) != nil else {
            return .fail(.invalidPayload, "text is not valid UTF-8")
        }
        return .text(data)
    }
}
