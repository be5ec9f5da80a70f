import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Random (version 4) UUIDs in lowercase text, for message and connection ids. Foundation's
/// `UUID()` opens, reads and closes /dev/urandom for every one on Linux: three system calls
/// per message, 4 % of a loaded event loop's time (BENCHMARKS.md, issue 15). These come from
/// the same device, kept open and read 4 KiB at a time (`getrandom` itself is not exposed to
/// Swift by glibc's module, and `arc4random_buf` needs glibc 2.36).
public enum RandomID {
    private static let pool = Mutex(Pool())

    private struct Pool {
        static let size = 4096
        var bytes = [UInt8](repeating: 0, count: size)
        var used = size
        var device: Int32 = -1

        /// The next 16 random bytes, refilling the pool when it runs out.
        mutating func take() -> (UInt64, UInt64) {
            if used + 16 > Self.size {
                refill()
                used = 0
            }
            defer { used += 16 }
            return bytes.withUnsafeBytes {
                ($0.loadUnaligned(fromByteOffset: used, as: UInt64.self), $0.loadUnaligned(fromByteOffset: used + 8, as: UInt64.self))
            }
        }

        private mutating func refill() {
            if device < 0 { device = open("/dev/urandom", O_RDONLY | O_CLOEXEC) }
            var filled = 0
            if device >= 0 {
                filled = bytes.withUnsafeMutableBytes { buffer in
                    var filled = 0
                    while filled < buffer.count {
                        let n = read(device, buffer.baseAddress! + filled, buffer.count - filled)
                        if n > 0 {
                            filled += n
                        } else if n < 0 && errno == EINTR {
                            continue
                        } else {
                            break
                        }
                    }
                    return filled
                }
            }
            // No device (a sandbox without /dev): the standard library's generator, 8 bytes a call.
            guard filled < Self.size else { return }
            var generator = SystemRandomNumberGenerator()
            for offset in stride(from: 0, to: Self.size, by: 8) {
                let word = generator.next()
                bytes.withUnsafeMutableBytes { $0.storeBytes(of: word, toByteOffset: offset, as: UInt64.self) }
            }
        }
    }

    /// A new id: 8-4-4-4-12 lowercase hex digits, version 4, RFC 4122 variant.
    public static func uuid() -> String {
        let (high, low) = bits()
        return format(high, low)
    }

    /// A new id's 128 bits, for a holder that keeps many and spells them out rarely.
    public static func bits() -> (UInt64, UInt64) {
        var (high, low) = pool.withLock { $0.take() }
        high = (high & ~0xF000) | 0x4000  // version 4 in bits 12…15 of the third group
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)  // variant 10xx at the top of the fourth
        return (high, low)
    }

    /// The 128 bits `high` then `low`, most significant nibble first, in the 8-4-4-4-12 form.
    public static func format(_ high: UInt64, _ low: UInt64) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { out in
            var at = 0
            for index in 0..<32 {
                if index == 8 || index == 12 || index == 16 || index == 20 {
                    out[at] = UInt8(ascii: "-")
                    at += 1
                }
                let word = index < 16 ? high : low
                let shift = UInt64(60 - (index % 16) * 4)
                out[at] = digits.utf8Start[Int(truncatingIfNeeded: (word >> shift) & 0xF)]
                at += 1
            }
            return at
        }
    }

    /// The 128 bits of an id in the 8-4-4-4-12 form (hex digits of either case); nil for
    /// anything else. Lets a holder of many ids find one without spelling each out.
    public static func parse(_ text: String) -> (UInt64, UInt64)? {
        let utf8 = text.utf8
        guard utf8.count == 36 else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        var nibbles = 0
        for (offset, byte) in utf8.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard let value = HexDigit.value(byte) else { return nil }
            if nibbles < 16 {
                words.0 = words.0 << 4 | UInt64(value)
            } else {
                words.1 = words.1 << 4 | UInt64(value)
            }
            nibbles += 1
        }
        return words
    }
}
