/// Which address a connection is from. Behind a reverse proxy the peer is the proxy, and
/// the client is named in `X-Forwarded-For`; that header is believed only when the peer is
/// a configured trusted proxy, and then read from the right, skipping trusted hops, so that
/// a client cannot pass off an address of its choosing by sending the header itself.
public struct TrustedProxies: Sendable, Equatable {
    public struct Network: Sendable, Equatable {
        let bytes: [UInt8]
        let prefix: Int

        /// `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
        public init?(_ text: String) {
            let parts = text.split(separator: "/", maxSplits: 1)
            guard let address = IPAddressText.parse(String(parts[0])) else { return nil }
            let maxPrefix = address.count * 8
            if parts.count == 2 {
                guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
                prefix = p
            } else {
                prefix = maxPrefix
            }
            bytes = address
        }

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var left = prefix
            for i in 0..<bytes.count where left > 0 {
                let bits = min(8, left)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[i] & mask != bytes[i] & mask { return false }
                left -= bits
            }
            return true
        }
    }

    public var networks: [Network]

    public init(_ networks: [Network]) { self.networks = networks }

    public func isTrusted(_ address: String) -> Bool {
        guard let bytes = IPAddressText.parse(address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// The client's address for a connection from `peer` carrying these
    /// `X-Forwarded-For` values (every header line, in order).
    public func clientAddress(peer: String, forwardedFor: [String]) -> String {
        guard isTrusted(peer) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { Sanitize.trimmed(String($0)) }
        var client = peer
        for hop in hops.reversed() {
            guard IPAddressText.parse(hop) != nil else { return client }
            client = hop
            if !isTrusted(hop) { return hop }
        }
        return client
    }
}

/// The key per-address limits count under. One IPv6 host usually holds a whole /64 (SLAAC,
/// privacy addresses), so counting each /128 alone would give one client 2^64 allowances:
/// IPv6 addresses are grouped by their first `ipv6PrefixLength` bits. IPv4 and IPv4-mapped
/// IPv6 addresses are one key each; text that is not an address (e.g. "?") is its own key.
public enum AddressGroup {
    public static func key(_ address: String, ipv6PrefixLength: Int) -> String {
        // Without a colon it is IPv4 or not an address: its own key either way. Asked per
        // message (the address's rate bucket), so IPv4 skips the parse.
        guard address.utf8.contains(UInt8(ascii: ":")), let bytes = IPAddressText.parse(address) else { return address }
        if bytes.count == 4 { return address }
        if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes.suffix(4).map(String.init).joined(separator: ".")
        }
        let prefix = min(max(ipv6PrefixLength, 0), 128)
        var masked = bytes
        var left = prefix
        for i in 0..<16 {
            let bits = min(8, max(left, 0))
            masked[i] &= bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            left -= bits
        }
        return "\(IPAddressText.format(masked))/\(prefix)"
    }
}

/// Textual IPv4 and IPv6 addresses to bytes (4 or 16), without the C library.
public enum IPAddressText {
    public static func parse(_ text: String) -> [UInt8]? {
        if text.contains(":") { return parseV6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }

    /// RFC 5952 text for 16 bytes: lowercase hex groups, the longest run (two or more) of zero
    /// groups written as "::".
    public static func format(_ bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return bytes.map(String.init).joined(separator: ".") }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var best: Range<Int>?
        var start: Int?
        for i in 0...8 {
            if i < 8, groups[i] == 0 {
                if start == nil { start = i }
            } else if let s = start {
                if i - s >= 2, i - s > (best?.count ?? 0) { best = s..<i }
                start = nil
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard let best else { return hex.joined(separator: ":") }
        return hex[..<best.lowerBound].joined(separator: ":") + "::" + hex[best.upperBound...].joined(separator: ":")
    }

    static func parseV6(_ raw: String) -> [UInt8]? {
        var text = Substring(raw)
        if let zone = text.firstIndex(of: "%") { text = text[..<zone] }
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring) -> [UInt8]? {
            if s.isEmpty { return [] }
            var out: [UInt8] = []
            let items = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if i == items.count - 1, item.contains(".") {
                    guard let v4 = parse(String(item)) else { return nil }
                    out += v4
                } else {
                    guard (1...4).contains(item.count), let v = UInt16(item, radix: 16) else { return nil }
                    out += [UInt8(v >> 8), UInt8(v & 0xFF)]
                }
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count < 16 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

extension Substring {
    fileprivate func components(separatedBy separator: String) -> [Substring] {
        var out: [Substring] = []
        var rest = self[...]
        while let range = rest.range(of: separator) {
            out.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        out.append(rest)
        return out
    }
}
