/// A mute or a ban of one identity (a normalized `UserTarget` key), as the store keeps it:
/// every node reads the same rows, and they outlive a restart.
public struct Restriction: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Messages are refused with the error `muted`; the connection stays.
        case mute
        /// The upgrade is refused with 403 and open connections are closed with 1008.
        case ban
    }

    public var kind: Kind
    public var target: String
    /// Seconds since 1970; nil until lifted.
    public var until: Double?
    public var actor: String
    public var reason: String
    public var createdAt: Double

    public init(kind: Kind, target: String, until: Double?, actor: String, reason: String, createdAt: Double) {
        self.kind = kind
        self.target = target
        self.until = until
        self.actor = actor
        self.reason = reason
        self.createdAt = createdAt
    }

    public func isActive(at now: Double) -> Bool {
        until.map { $0 > now } ?? true
    }

    /// When a restriction of `seconds` from `now` ends; nil ("until lifted") for none, and
    /// for a duration past any real use or not a number at all, so that no arithmetic on an
    /// operator's input can overflow or trap.
    public static func until(seconds: Double?, now: Double) -> Double? {
        guard let seconds, seconds.isFinite, seconds < 1e10 else { return nil }
        return now + max(0, seconds)
    }
}
