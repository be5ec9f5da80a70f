/// The server's side of the WebSocket heartbeat, as decisions without I/O: every interval a
/// connection that has not answered the previous ping is terminated, the others are pinged.
///
/// Pings carry 8 random bytes, and only a pong echoing the latest ping's counts: a client that
/// reads nothing can neither know nor guess them, so it cannot stay alive by sending pongs of
/// its own (RFC 6455 5.5.3 lets it send them; they are not an answer).
public struct Heartbeat: Sendable, Equatable {
    /// The payload of the ping not answered yet, nil when the last one was answered.
    public private(set) var unanswered: [UInt8]?

    public init() {}

    public enum Tick: Sendable, Equatable {
        /// Send a ping with this payload.
        case ping([UInt8])
        /// The previous ping went unanswered for a whole interval: close the connection.
        case terminate
    }

    /// One interval has passed; `random` supplies the next ping's 64 bits.
    public mutating func tick(random: () -> UInt64) -> Tick {
        if unanswered != nil { return .terminate }
        let value = random()
        let payload = (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
        unanswered = payload
        return .ping(payload)
    }

    /// A pong arrived; it answers the ping only if it echoes its payload.
    public mutating func pong<Payload: Collection<UInt8>>(_ payload: Payload) {
        if let expected = unanswered, payload.elementsEqual(expected) { unanswered = nil }
    }
}

/// The answer to a client's close frame (RFC 6455 5.5.1): the same code, or 1002/1007 when
/// the close frame itself is malformed.
public enum CloseHandshake {
    public static func answer<Payload: Collection<UInt8>>(toClose payload: Payload) -> (code: UInt16, reason: String) {
        guard !payload.isEmpty else { return (CloseCode.normal.rawValue, "") }
        guard payload.count >= 2 else { return (CloseCode.protocolError.rawValue, "malformed close frame") }
        let bytes = Array(payload)
        let code = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard isValidReceivedCode(code) else { return (CloseCode.protocolError.rawValue, "invalid close code") }
        guard String(validating: bytes.dropFirst(2), as: UTF8.self) != nil else {
            return (CloseCode.invalidPayload.rawValue, "close reason is not valid UTF-8")
        }
        return (code, "")
    }

    /// Codes a client may send (RFC 6455 7.4): the defined ones that may appear on the wire,
    /// and the registered and private ranges.
    public static func isValidReceivedCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
    }
}
