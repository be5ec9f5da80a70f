import ChatCore
import NIOCore

/// Server-to-client frames, encoded by chatd itself. Server frames are never masked, so the
/// bytes of one broadcast are the same for every member: they are built once here and the
/// same `ByteBuffer` (shared storage, no copy) is written to every connection.
enum ServerFrame {
    static func text(_ payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        encode(opcode: .text, payload: payload, allocator: allocator)
    }

    /// `compressed`: the payload is a permessage-deflate message (RSV1 set).
    static func encode(
        opcode: WebSocketOpcode, payload: some Collection<UInt8>, compressed: Bool = false, allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let count = payload.count
        let headLength = WebSocketFraming.serverHeadLength(payloadLength: count)
        var buffer = allocator.buffer(capacity: headLength + count)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: headLength) { target in
            WebSocketFraming.writeServerHead(opcode: opcode, payloadLength: count, rsv1: compressed, into: target)
        }
        buffer.writeBytes(payload)
        return buffer
    }

    static func encode(opcode: WebSocketOpcode, buffer payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        encode(opcode: opcode, payload: payload.readableBytesView, allocator: allocator)
    }

    /// The payload of a frame `encode` made (its head skipped).
    static func payload(of frame: ByteBuffer) -> ByteBuffer {
        guard frame.readableBytes >= 2, let short = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self) else { return frame }
        let head = short == 127 ? 10 : short == 126 ? 4 : 2
        return frame.getSlice(at: frame.readerIndex + head, length: frame.readableBytes - head) ?? ByteBuffer()
    }

    /// A close frame: the code, then a UTF-8 reason cut to fit the 125-byte control limit.
    static func close(code: UInt16, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !reasonBytes.isEmpty, String(validating: reasonBytes, as: UTF8.self) == nil { reasonBytes.removeLast() }
        payload.append(contentsOf: reasonBytes)
        return encode(opcode: .close, payload: payload, allocator: allocator)
    }
}
