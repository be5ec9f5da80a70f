extension UpgradeGate.Request {
    /// The request as the upgrade check sees it, from a head's fields in order, read the way
    /// NIOHTTP1's `HTTPHeaders` reads them: names case-insensitive; the first `Origin` and
    /// `Authorization`; every `Sec-WebSocket-Protocol` and `Upgrade` value split at commas
    /// and trimmed (`headers[canonicalForm:]`). Pure, so the fuzz target for request heads
    /// drives the same mapping the transport uses.
    public init(method: String, target: String, headers: [(name: String, value: String)]) {
        self.init(
            method: method,
            target: target,
            origin: Self.first("origin", in: headers),
            authorization: Self.first("authorization", in: headers),
            protocols: Self.listValues("sec-websocket-protocol", in: headers),
            wantsWebSocket: Self.listValues("upgrade", in: headers).contains { $0.lowercased() == "websocket" }
        )
    }

    /// The first value of a field, or nil.
    public static func first(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name.lowercased() == name }?.value
    }

    /// Every value of a field (each line of it), in order.
    public static func values(_ name: String, in headers: [(name: String, value: String)]) -> [String] {
        headers.filter { $0.name.lowercased() == name }.map(\.value)
    }

    /// A comma-separated list field's items, from every line of it, trimmed of spaces and tabs.
    public static func listValues(_ name: String, in headers: [(name: String, value: String)]) -> [String] {
        values(name, in: headers).flatMap { $0.split(separator: ",") }.map { item in
            let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
            return String(item.drop(while: blank).reversed().drop(while: blank).reversed())
        }
    }
}
