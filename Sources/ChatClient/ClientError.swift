/// Why a connection attempt or an exchange failed, worded for a one-line report.
public enum ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case connectionFailed(String)
    /// The server answered the upgrade with this HTTP status instead of 101.
    case rejected(status: Int, body: String)
    case badHandshake(String)
    case timeout(String)
    case disconnected

    public var description: String {
        switch self {
        case let .connectionFailed(why): return "connection failed: \(why)"
        case let .rejected(status, body):
            let text = body.trimmingWhitespace()
            return "upgrade refused with HTTP \(status)\(text.isEmpty ? "" : " (\(text))")"
        case let .badHandshake(why): return "bad handshake: \(why)"
        case let .timeout(what): return "timed out \(what)"
        case .disconnected: return "connection closed"
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
