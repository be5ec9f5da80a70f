import NIOCore
import NIOWebSocket

/// Server-to-client frames, encoded by chatd itself. Server frames are never masked, so the
/// bytes of one broadcast are the same for every member: they are built once here and the
/// same `ByteBuffer` (shared storage, no copy) is written to every connection.
enum ServerFrame {
    static func text(_ payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        encode(opcode: .text, payload: payload, allocator: allocator)
    }

    static func encode(opcode: WebSocketOpcode, payload: some Collection<UInt8>, allocator: ByteBufferAllocator) -> ByteBuffer {
        let count = payload.count
        var buffer = allocator.buffer(capacity: count + 10)
        buffer.writeInteger(UInt8(0x80) | opcodeBits(opcode))
        if count < 126 {
            buffer.writeInteger(UInt8(count))
        } else if count <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(count))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(count))
        }
        buffer.writeBytes(payload)
        return buffer
    }

    static func encode(opcode: WebSocketOpcode, buffer payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        encode(opcode: opcode, payload: payload.readableBytesView, allocator: allocator)
    }

    private static func opcodeBits(_ opcode: WebSocketOpcode) -> UInt8 {
        switch opcode {
        case .continuation: return 0x0
        case .text: return 0x1
        case .binary: return 0x2
        case .connectionClose: return 0x8
        case .ping: return 0x9
        case .pong: return 0xA
        default: preconditionFailure("chatd sends no other opcode")
        }
    }

    /// A close frame: the code, then a UTF-8 reason cut to fit the 125-byte control limit.
    static func close(code: UInt16, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !reasonBytes.isEmpty, String(validating: reasonBytes, as: UTF8.self) == nil { reasonBytes.removeLast() }
        payload.append(contentsOf: reasonBytes)
        return encode(opcode: .connectionClose, payload: payload, allocator: allocator)
    }
}
