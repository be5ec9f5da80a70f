import ChatCore

/// The input is the raw bytes of an HTTP request head. They are split into the request line
/// and fields as an HTTP/1.1 parser would (CRLF or LF lines, `name: value`, optional
/// whitespace trimmed), then driven through what chatd decides from a head: the upgrade
/// request (`UpgradeGate.Request(method:target:headers:)`), the target's query
/// (`QueryString`), the gate's decision and admission, and the client address behind
/// trusted proxies (`X-Forwarded-For`).
let gate = UpgradeGate(allowedOrigins: ["http://localhost:8080"], defaultRoom: "lobby")
let proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"].compactMap(TrustedProxies.Network.init))
let identity = Identity(name: "x", role: .user, rooms: RoomPatterns(["lobby", "team-*"])!, guestNames: true, userKey: "k")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Bytes, not Characters: "\r\n" is one Character in Swift and would hide line ends.
    var lines = UnsafeBufferPointer(start: data, count: size).split(separator: 0x0A, omittingEmptySubsequences: false)
        .map { $0.last == 0x0D ? $0.dropLast() : $0 }
    if let end = lines.firstIndex(where: \.isEmpty) { lines = Array(lines[..<end]) }
    guard !lines.isEmpty else { return 0 }
    let requestLine = lines.removeFirst().split(separator: 0x20, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return 0 }
    var headers: [(name: String, value: String)] = []
    for line in lines {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return 0 }
        let name = line[..<colon]
        guard !name.isEmpty, !name.contains(0x20), !name.contains(0x09) else { return 0 }
        let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
        headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }
    let request = UpgradeGate.Request(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers)

    let (path, _) = QueryString.split(target: request.target)
    precondition(!path.contains("?"), "path keeps the query")
    if request.wantsWebSocket {
        precondition(UpgradeGate.Request.listValues("upgrade", in: headers).contains { $0.lowercased() == "websocket" })
    }
    switch gate.decide(request) {
    case let .accept(attempt):
        precondition(path == UpgradeGate.chatPath && request.method == "GET", "accepted another request")
        precondition(request.origin == "http://localhost:8080", "accepted another origin")
        precondition(!attempt.credential.isEmpty, "accepted without a credential")
        precondition(Sanitize.isValidRoom(attempt.room), "invalid room")
        precondition(attempt.subprotocol == request.protocols.contains(UpgradeGate.subprotocol), "subprotocol not answered as offered")
        if case let .accept(session) = UpgradeGate.admit(attempt, as: identity, rule: RoomRule()) {
            precondition(identity.rooms.matches(session.room) || session.echo, "admitted to a room the credential lacks")
            precondition(session.name.utf16.count <= 24, "unsanitized name")
        }
    case let .reject(status, _):
        precondition([400, 401, 403, 404, 405, 426].contains(status), "unexpected status \(status)")
    }

    let forwarded = UpgradeGate.Request.values("x-forwarded-for", in: headers)
    for peer in ["10.1.2.3", "::1", "203.0.113.9"] {
        let client = proxies.clientAddress(peer: peer, forwardedFor: forwarded)
        precondition(client == peer || IPAddressText.parse(client) != nil, "client address is not an address")
        if !proxies.isTrusted(peer) { precondition(client == peer, "believed an untrusted peer's header") }
    }
    return 0
}
