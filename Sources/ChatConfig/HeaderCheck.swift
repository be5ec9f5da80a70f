/// Rejects what toml++ (inside TOMLKit) does not reject but asserts on — its assertions are
/// on in SwiftPM's release builds too, so each aborts chatd instead of naming the line:
/// a table header whose first key character is neither a bare-key character nor a quote
/// (`[!]`, `[ é]`, `[.a]`), and a `}` where an array expects a value (`[}`, `[1, }`). Both
/// found by the config fuzzer (Fuzz/); the regression cases are in ConfigLoaderTests.
///
/// It is a small lexer: it follows strings (basic, literal, multi-line), comments and the
/// open arrays and inline tables, so that only real headers and brackets are checked.
enum HeaderCheck {
    /// The 1-based line of the first such construct, or nil.
    static func firstBadHeader(in text: String) -> Int? {
        var open: [UInt8] = []  // `[` and `{` of the values being read
        var multiline: [UInt8]?  // the closing delimiter while inside a multi-line string
        var line = 1
        var atLineStart = true
        let bytes = Array(text.utf8)
        // A byte-order mark is not part of the first line (toml++ skips it too).
        var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        func isBare(_ b: UInt8) -> Bool {
            (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b == 0x5f || b == 0x2d
        }
        func starts(_ s: [UInt8], at k: Int) -> Bool { k + s.count <= bytes.count && Array(bytes[k..<(k + s.count)]) == s }
        let tripleDouble: [UInt8] = [0x22, 0x22, 0x22]
        let tripleSingle: [UInt8] = [0x27, 0x27, 0x27]
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x0a {
                line += 1
                atLineStart = true
                i += 1
                continue
            }
            if let close = multiline {
                if b == 0x5c && close == tripleDouble {
                    i += 2
                    continue
                }
                if starts(close, at: i) {
                    multiline = nil
                    i += 3
                } else {
                    i += 1
                }
                continue
            }
            if b == 0x20 || b == 0x09 || b == 0x0d {
                i += 1
                continue
            }
            let lineStart = atLineStart
            atLineStart = false
            switch b {
            case 0x23:  // comment: skip to the end of the line
                while i < bytes.count && bytes[i] != 0x0a { i += 1 }
            case 0x22, 0x27:
                let triple = b == 0x22 ? tripleDouble : tripleSingle
                if starts(triple, at: i) {
                    multiline = triple
                    i += 3
                    continue
                }
                i += 1
                while i < bytes.count && bytes[i] != b && bytes[i] != 0x0a {
                    i += (b == 0x22 && bytes[i] == 0x5c) ? 2 : 1
                }
                i += 1
            case 0x5b where lineStart && open.isEmpty:
                // A table header: `[` or `[[`, blanks, then a key.
                var k = i + 1
                if k < bytes.count && bytes[k] == 0x5b { k += 1 }
                while k < bytes.count && (bytes[k] == 0x20 || bytes[k] == 0x09) { k += 1 }
                if k < bytes.count, !(isBare(bytes[k]) || bytes[k] == 0x22 || bytes[k] == 0x27 || bytes[k] == 0x5d) {
                    return line
                }
                while i < bytes.count && bytes[i] != 0x0a && bytes[i] != 0x23 { i += 1 }
            case 0x5b, 0x7b:
                open.append(b)
                i += 1
            case 0x5d:
                if open.last == 0x5b { open.removeLast() }
                i += 1
            case 0x7d:
                // `}` only closes an inline table; inside an array toml++ takes it for a value.
                if open.last == 0x5b { return line }
                if open.last == 0x7b { open.removeLast() }
                i += 1
            default:
                i += 1
            }
        }
        return nil
    }
}
