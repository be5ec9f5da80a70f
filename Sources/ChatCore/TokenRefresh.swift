/// A session whose credential expires (a JWT's `exp`) and its renewal in band: the client is
/// told `expiring` some seconds before the end, may send a new token for the same user
/// (`refresh`), and is closed with 1008 at the end otherwise. Decided without I/O; the
/// session keeps one timer, set to whichever `next` says comes first.
public enum TokenRefresh {
    /// What the session's one expiry timer does when it fires.
    public enum Step: Equatable, Sendable {
        /// Tell the client `expiring`, then wait for the end.
        case notice
        /// Close with 1008, "credential expired".
        case end
    }

    /// Past this, an end is as good as never and is not timed (a signed `exp` of 1e16 is valid
    /// JSON, and a timer that far away would overflow).
    public static let longestWaitSeconds: Double = 10 * 365 * 86400

    /// The expiry timer's next step and its delay in seconds (0: at once), or nil when the
    /// session is not timed. `noticed` is true once `expiring` was sent for this credential;
    /// `aheadSeconds` 0 sends none.
    public static func next(expiresAt: Double?, now: Double, aheadSeconds: Double, noticed: Bool) -> (delay: Double, step: Step)? {
        guard let expiresAt else { return nil }
        let left = expiresAt - now
        if left >= longestWaitSeconds { return nil }
        // Not a positive number (NaN included): expired now.
        guard left > 0 else { return (0, .end) }
        if !noticed, aheadSeconds > 0, aheadSeconds.isFinite { return (max(0, left - aheadSeconds), .notice) }
        return (left, .end)
    }

    /// Whole seconds until `expiresAt`, as `expiring` carries them: never negative, never
    /// past what an `Int` holds (the timer does not run for ends further away than that).
    public static func secondsLeft(expiresAt: Double, now: Double) -> Int {
        let left = expiresAt - now
        guard left > 0 else { return 0 }
        return Int(min(left, longestWaitSeconds).rounded(.down))
    }

    /// The Unix second at which a session ends, as `refreshed` carries it.
    public static func unixSeconds(_ expiresAt: Double) -> Int {
        guard expiresAt > 0 else { return 0 }
        return Int(min(expiresAt, 1e15).rounded(.down))
    }

    /// Whether a verified new credential may take over the session: only for the same user
    /// (a `refresh` cannot turn one person's connection into another's).
    public static func verdict(current: Identity, fresh: Identity) -> ErrorCode? {
        fresh.userKey == current.userKey ? nil : .refreshRejected
    }
}
