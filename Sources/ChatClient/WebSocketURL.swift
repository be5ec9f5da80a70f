/// A `ws://host:port/path?query` address (`wss` is for the proxy tests, through a TLS
/// terminator in front; this client speaks plain TCP).
public struct WebSocketURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Path and query, as sent in the request line.
    public var target: String

    public init(host: String, port: Int, target: String) {
        self.host = host
        self.port = port
        self.target = target
    }

    public init?(_ text: String) {
        let scheme = "ws://"
        guard text.hasPrefix(scheme) else { return nil }
        let rest = text.dropFirst(scheme.count)
        let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<slash]
        var target = String(rest[slash...])
        if target.isEmpty { target = "/" }
        if target.hasPrefix("?") { target = "/" + target }
        var host = Substring(authority)
        var port = 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
            host = authority[..<colon]
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        self.init(host: String(host), port: port, target: target)
    }

    /// `http://host:port`, the Origin a page served by the same server would send.
    public var httpOrigin: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? "http://\(h)" : "http://\(h):\(port)"
    }

    var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? h : "\(h):\(port)"
    }
}
