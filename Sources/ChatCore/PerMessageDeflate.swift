/// permessage-deflate (RFC 7692) negotiation: which of a client's offers chatd accepts, and
/// what it answers.
///
/// chatd always answers with `server_no_context_takeover` and `client_no_context_takeover`
/// (RFC 7692 7.1.1 lets a server add both): every message is compressed on its own, so a
/// connection keeps no zlib state between messages, an idle one costs nothing, and one
/// compressed broadcast frame serves every member that negotiated the same window.
public enum PerMessageDeflate {
    public static let name = "permessage-deflate"

    /// An accepted offer.
    public struct Agreement: Equatable, Sendable {
        /// The LZ77 window chatd compresses with (`server_max_window_bits`, 9…15).
        public var serverWindowBits: Int
        /// The `Sec-WebSocket-Extensions` response header value.
        public var response: String
    }

    /// The first acceptable offer among `headers` (every `Sec-WebSocket-Extensions` value),
    /// or nil: an offer with an unknown or repeated parameter or a bad value is declined
    /// (RFC 7692 7.1), and so is `server_max_window_bits=8` (zlib cannot compress with a
    /// 256-byte window; it would use 512, which such a client cannot read).
    public static func negotiate(_ headers: [String]) -> Agreement? {
        // One pass over each header's bytes, offer by offer, stopping at the first accepted:
        // a client controls the header (up to limits.max_header_bytes), so its cost must stay
        // a few nanoseconds per byte, and the offers looked at are capped.
        var offers = 0
        for header in headers {
            let bytes = Array(header.utf8)
            var start = 0
            var quoted = false
            for index in 0...bytes.count {
                if index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\"") { quoted.toggle() }
                    if bytes[index] != UInt8(ascii: ",") || quoted { continue }
                }
                offers += 1
                if offers > maxOffers { return nil }
                if let agreement = accept(offer: bytes[start..<index]) { return agreement }
                start = index + 1
            }
        }
        return nil
    }

    /// Offers looked at, in all: browsers make one or two.
    static let maxOffers = 16

    private static func accept(offer: ArraySlice<UInt8>) -> Agreement? {
        let parts = split(offer, at: UInt8(ascii: ";"))
        // The extension's four parameters at most: more is a repeat or an unknown one.
        guard parts.count <= 5, let first = parts.first, lowercased(first) == name else { return nil }
        var seen = Set<String>()
        var serverWindowBits = 15
        for parameter in parts.dropFirst() {
            let pieces = split(parameter, at: UInt8(ascii: "="), limit: 2)
            let key = lowercased(pieces[0])
            guard !key.isEmpty, seen.insert(key).inserted else { return nil }
            let value = pieces.count == 2 ? unquote(String(decoding: trim(pieces[1]), as: UTF8.self)) : nil
            switch key {
            case "server_no_context_takeover", "client_no_context_takeover":
                guard value == nil else { return nil }
            case "server_max_window_bits":
                guard let value, let bits = windowBits(value), bits >= 9 else { return nil }
                serverWindowBits = bits
            case "client_max_window_bits":
                // A client that may be told to use a smaller window; chatd inflates with the
                // largest, so it does not ask.
                if let value, windowBits(value) == nil { return nil }
            default:
                return nil
            }
        }
        var response = "\(name); server_no_context_takeover; client_no_context_takeover"
        if seen.contains("server_max_window_bits") { response += "; server_max_window_bits=\(serverWindowBits)" }
        return Agreement(serverWindowBits: serverWindowBits, response: response)
    }

    /// 8…15 written plainly (RFC 7692 7.1.2: 1*DIGIT, no leading zero).
    private static func windowBits(_ text: String) -> Int? {
        guard text.count <= 2, !text.hasPrefix("0"), text.allSatisfy({ $0.isASCII && $0.isNumber }), let bits = Int(text),
            (8...15).contains(bits)
        else { return nil }
        return bits
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    private static func trim(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isSpace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isSpace(last) { slice = slice.dropLast() }
        return slice
    }

    private static func lowercased(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: trim(bytes), as: UTF8.self).lowercased()
    }

    private static func unquote(_ text: String) -> String {
        guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return text }
        return String(text.dropFirst().dropLast())
    }

    /// `bytes` split at `separator` outside double quotes, into at most `limit` parts.
    private static func split(_ bytes: ArraySlice<UInt8>, at separator: UInt8, limit: Int = .max) -> [ArraySlice<UInt8>] {
        var parts: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var quoted = false
        for index in bytes.indices where parts.count < limit - 1 {
            if bytes[index] == UInt8(ascii: "\"") { quoted.toggle() }
            if bytes[index] == separator && !quoted {
                parts.append(bytes[start..<index])
                start = index + 1
            }
        }
        parts.append(bytes[start..<bytes.endIndex])
        return parts
    }
}
