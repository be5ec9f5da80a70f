/// A connection's pings and pongs within one read pass, as decisions without I/O.
///
/// The first `perRead` pings of a read are answered one by one; past that, or once the socket
/// is behind, only the newest ping of the read is answered, at its end (RFC 6455 5.5.3:
/// answering the most recent ping is enough), so a ping flood costs one pong per read, not one
/// per ping. No client needs dozens of pings — or pongs — in one read: past `perRead` each is
/// a strike, and a connection whose reads keep bringing too many is closed like a text flood
/// (each frame still costs a decode, and the other connections of its loop wait for it).
public struct ControlFrameBudget: Sendable, Equatable {
    public static let perRead = 16

    public private(set) var pingsAnswered = 0
    public private(set) var pongsReceived = 0
    /// Control frames past `perRead`, in the reads since one that had none too many.
    public private(set) var strikes = 0

    public init() {}

    public enum PingAnswer: Sendable, Equatable {
        /// Answer with a pong now.
        case now
        /// Keep its payload (replacing any kept before) and answer at the end of the read.
        case atEndOfRead
        /// Close the connection (1008): it keeps flooding.
        case close
    }

    public mutating func ping(writable: Bool, strikesAllowed: Int) -> PingAnswer {
        if pingsAnswered < Self.perRead && writable {
            pingsAnswered += 1
            return .now
        }
        if pingsAnswered >= Self.perRead && strike(allowed: strikesAllowed) { return .close }
        return .atEndOfRead
    }

    /// A pong arrived (an answer to the heartbeat, or one of the client's own); true when the
    /// connection must be closed for flooding.
    public mutating func pong(strikesAllowed: Int) -> Bool {
        pongsReceived += 1
        return pongsReceived > Self.perRead && strike(allowed: strikesAllowed)
    }

    /// The read pass ended: a read without too many control frames forgives the strikes.
    public mutating func endOfRead() {
        if pingsAnswered < Self.perRead && pongsReceived <= Self.perRead { strikes = 0 }
        pingsAnswered = 0
        pongsReceived = 0
    }

    private mutating func strike(allowed: Int) -> Bool {
        strikes += 1
        return strikes > allowed
    }
}
