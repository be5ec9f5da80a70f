import ChatCore

let gate = UpgradeGate(allowedOrigins: ["http://localhost:8080"], defaultRoom: "lobby")

/// The input is a request head, one field per line: method, target, Origin, Authorization,
/// Sec-WebSocket-Protocol (comma-separated), Upgrade. An accepted attempt always came by
/// /chat from an allowed origin, and names a valid room and name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    while lines.count < 6 { lines.append("") }
    let request = UpgradeGate.Request(
        method: lines[0], target: lines[1], origin: lines[2].isEmpty ? nil : lines[2],
        authorization: lines[3].isEmpty ? nil : lines[3],
        protocols: lines[4].split(separator: ",").map { String($0).trimmingCharacters(in: " ") },
        wantsWebSocket: lines[5] == "websocket")
    switch gate.decide(request) {
    case let .accept(attempt):
        precondition(request.target.hasPrefix(UpgradeGate.chatPath), "accepted another path")
        precondition(request.origin == "http://localhost:8080", "accepted another origin")
        precondition(!attempt.credential.isEmpty, "accepted without a credential")
        precondition(Sanitize.isValidRoom(attempt.room), "invalid room")
        let identity = Identity(name: "x", role: .user, rooms: RoomPatterns(["lobby"])!, guestNames: true, userKey: "k")
        if case let .accept(session) = UpgradeGate.admit(attempt, as: identity, rule: RoomRule()) {
            precondition(session.room == "lobby" || attempt.echo, "admitted to a room the credential lacks")
            // The article's rule: `^[\w -]+$`, at most 24 UTF-16 units (a trailing space may stay).
            precondition(!session.name.isEmpty && session.name.utf16.count <= 24
                && session.name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "_- ".unicodeScalars.contains($0)) },
                "unsanitized name")
        }
    case let .reject(status, _):
        precondition([400, 401, 403, 404, 405, 426].contains(status), "unexpected status \(status)")
    }
    return 0
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        return String(drop { chars.contains($0) }.reversed().drop { chars.contains($0) }.reversed())
    }
}
