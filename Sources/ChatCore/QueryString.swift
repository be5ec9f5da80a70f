/// `application/x-www-form-urlencoded` query parsing, as `URLSearchParams` does it:
/// `+` is a space, `%XX` escapes are decoded, invalid escapes are kept literally.
public enum QueryString {
    /// Splits a request target into its path and its decoded parameters (first value wins).
    public static func split(target: String) -> (path: String, parameters: [String: String]) {
        guard let q = target.firstIndex(of: "?") else { return (target, [:]) }
        let path = String(target[..<q])
        var params: [String: String] = [:]
        let query = target[target.index(after: q)...]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if params[name] == nil { params[name] = value }
        }
        return (path, params)
    }

    static func decode(_ s: Substring) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let byte = it.popFirst() {
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), it.count >= 2,
                let hi = HexDigit.value(it[it.startIndex]), let lo = HexDigit.value(it[it.startIndex + 1])
            {
                out.append(hi << 4 | lo)
                it = it.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
