import ChatCore

/// The input is a JWT payload (JSON) as a verified token carries it. Whatever it holds, the
/// mapping to an identity does not trap, and an identity it gives expires at a finite time no
/// later than the bounds chatd's timers can hold, with a valid display name.
let now = 1_700_000_000.0
let policies = [
    JWTClaims.Policy(),
    // An operator's extreme leeway must not unclamp anything either.
    JWTClaims.Policy(issuer: "idp", audience: "chatd", leewaySeconds: .infinity, guestNames: true),
    JWTClaims.Policy(leewaySeconds: -1e300),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let payload = UnsafeBufferPointer(start: data, count: size)
    for policy in policies {
        guard case let .success(identity) = JWTClaims.identity(payload: payload, now: now, policy: policy) else { continue }
        guard let expiresAt = identity.expiresAt else { preconditionFailure("an identity without an expiry") }
        precondition(expiresAt.isFinite && expiresAt >= now, "expiry \(expiresAt) before now or not finite")
        precondition(expiresAt <= JWTClaims.latestExpiry && expiresAt <= now + JWTClaims.longestLifetime, "expiry \(expiresAt) not clamped")
        // As a session schedules it: milliseconds, then NIO's Int64 nanoseconds.
        precondition((expiresAt - now) * 1e9 < Double(Int64.max), "expiry overflows a timer")
        precondition(Sanitize.isValidName(identity.name), "invalid name")
        // Compared as Strings are (by Character), and printable ASCII: what operators type.
        precondition(identity.userKey.hasPrefix("jwt:"), "user key outside the jwt namespace")
        precondition(identity.userKey.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "user key not printable ASCII")
        if policy.issuer != nil { precondition(identity.userKey.hasPrefix("jwt:idp:"), "issuer not checked") }
    }
    return 0
}
