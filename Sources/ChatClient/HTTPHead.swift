/// An HTTP/1.1 response head as read off the wire.
public struct HTTPHead: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]

    public static func == (a: HTTPHead, b: HTTPHead) -> Bool {
        a.status == b.status && a.headers.map { "\($0.name):\($0.value)" } == b.headers.map { "\($0.name):\($0.value)" }
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Finds the end of a head in `bytes`; returns the parsed head and the index after it.
    static func parse(_ bytes: [UInt8]) throws(ClientError) -> (HTTPHead, Int)? {
        let terminator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4 else { return nil }
        var end: Int?
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && Array(bytes[i..<i + 4]) == terminator {
            end = i
            break
        }
        guard let end else { return nil }
        let text = String(decoding: bytes[..<end], as: UTF8.self)
        var lines = text.components(separatedByCRLF: ())
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw .badHandshake("not an HTTP response: \(statusLine.prefix(80))")
        }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingWhitespace()))
        }
        return (HTTPHead(status: status, headers: headers), end + 4)
    }
}

extension String {
    func components(separatedByCRLF: Void) -> [String] {
        var out: [String] = []
        var current = ""
        var it = makeIterator()
        while let c = it.next() {
            if c == "\r\n" || c == "\n" {
                out.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        out.append(current)
        return out
    }
}
