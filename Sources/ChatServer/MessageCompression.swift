import ChatCore
import CompressNIO
import NIOCore

/// permessage-deflate's zlib work for one event loop. Every message is compressed and
/// inflated on its own (both sides agreed to no context takeover), so one deflate stream per
/// window size and level, and one inflate stream, serve every connection of the loop; a
/// connection holds no zlib state.
final class MessageCompression {
    enum InflateFailure: Error {
        case tooBig
        case corrupt
    }

    private var inflater: ZlibDecompressor?
    /// By window bits and level.
    private var deflaters: [Int: ZlibCompressor] = [:]

    /// The payload compressed as one message (RFC 7692 7.2.1: the final `00 00 FF FF` of the
    /// sync flush removed), or nil when that would not make it smaller (or zlib fails: the
    /// message then goes uncompressed, which a client must accept too). `always`: even when
    /// it does not get smaller.
    func deflate(
        _ payload: ByteBuffer, windowBits: Int, level: Int, always: Bool = false, allocator: ByteBufferAllocator
    ) -> ByteBuffer? {
        guard payload.readableBytes > 0 else { return nil }
        let bits = min(max(windowBits, 9), 15)
        let level = min(max(level, 1), 9)
        let key = bits << 4 | level
        do {
            let deflater: ZlibCompressor
            if let existing = deflaters[key] {
                deflater = existing
            } else {
                deflater = try ZlibCompressor(
                    algorithm: .deflate, configuration: ZlibConfiguration(windowSize: Int32(bits), compressionLevel: Int32(level)))
                deflaters[key] = deflater
            }
            var input = payload
            var output = allocator.buffer(capacity: deflater.maxSize(from: input))
            defer { try? deflater.reset() }
            try deflater.deflate(from: &input, to: &output, flush: .sync)
            guard input.readableBytes == 0, output.readableBytes >= 4 else { return nil }
            output.moveWriterIndex(to: output.writerIndex - 4)
            return always || output.readableBytes < payload.readableBytes ? output : nil
        } catch {
            return nil
        }
    }

    /// A compressed message inflated, at most `maxBytes` of it (a small message may not
    /// inflate past the limit an uncompressed one has).
    func inflate(_ compressed: ByteBuffer, maxBytes: Int, allocator: ByteBufferAllocator) -> Result<ByteBuffer, InflateFailure> {
        var input = compressed
        input.writeBytes([0x00, 0x00, 0xFF, 0xFF])
        let limit = maxBytes < Int.max ? maxBytes + 1 : maxBytes
        do {
            let inflater = try self.inflater ?? ZlibDecompressor(algorithm: .deflate, windowSize: 15)
            self.inflater = inflater
            try inflater.reset()
            var output = allocator.buffer(capacity: min(limit, max(256, input.readableBytes * 4)))
            while true {
                do {
                    try inflater.inflate(from: &input, to: &output)
                    break
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    guard output.capacity < limit else { return .failure(.tooBig) }
                    output.reserveCapacity(min(limit, output.capacity * 2))
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    break  // all of the input taken; nothing more to write
                }
            }
            return output.readableBytes > maxBytes ? .failure(.tooBig) : .success(output)
        } catch {
            // A stream that zlib refuses; and its state is unknown, so the next message gets
            // a new one.
            inflater = nil
            return .failure(.corrupt)
        }
    }
}
