import Foundation

/// The claims of a JWT whose signature is already checked, mapped to an `Identity`: `exp`
/// (required), `nbf`, `iss` and `aud` with the leeway, then `name`/`sub`, `role` and `rooms`.
///
/// Pure and in ChatCore (no jwt-kit, no crypto) so that the fuzz package builds it cheaply:
/// these are the values an identity provider — or anyone holding its key — controls, and a
/// signed `exp` of 1e16 once crashed chatd when the expiry became a timer. Every number is
/// clamped here, so no consumer of `Identity.expiresAt` can overflow.
public enum JWTClaims {
    /// 9999-12-31T23:59:59Z: no expiry is later.
    public static let latestExpiry: Double = 253_402_300_799
    /// Nor more than 100 years from now: a session's expiry becomes an event-loop timer in
    /// Int64 nanoseconds, which reach only 292 years.
    public static let longestLifetime: Double = 100 * 365 * 86400
    /// Leeway is the operator's, but bounded all the same: an hour of clock skew is generous.
    public static let longestLeeway: Double = 3600

    public struct Policy: Sendable, Equatable {
        /// The required `iss`, when set.
        public var issuer: String?
        /// The required member of `aud`, when set.
        public var audience: String?
        /// Clock skew allowed on `exp` and `nbf`.
        public var leewaySeconds: Double
        /// True when holders may choose their display name at the upgrade.
        public var guestNames: Bool

        public init(issuer: String? = nil, audience: String? = nil, leewaySeconds: Double = 30, guestNames: Bool = false) {
            self.issuer = issuer
            self.audience = audience
            self.leewaySeconds = leewaySeconds
            self.guestNames = guestNames
        }
    }

    /// Why the claims name no identity (mapped to a 401 by the authenticator).
    public enum Failure: Error, Sendable, Equatable {
        case expired
        case notYetValid
        case wrongIssuer
        case wrongAudience
        case badClaims(String)
    }

    /// The identity the decoded JSON payload of a verified token names at `now` (seconds
    /// since 1970), or why it names none. Never traps, whatever the bytes.
    public static func identity(payload: some Collection<UInt8>, now: Double, policy: Policy) -> Result<Identity, Failure> {
        let claims: Payload
        do {
            claims = try JSONDecoder().decode(Payload.self, from: Data(payload))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            // Only the claims below are decoded, so the first key is one of their names, never
            // text of the token's choosing.
            let claim = context.codingPath.first?.stringValue ?? "payload"
            return .failure(.badClaims(claim == "payload" ? "the payload must be a JSON object" : "\(claim) has the wrong type"))
        } catch {
            return .failure(.badClaims("the payload must be a JSON object"))
        }
        let leeway = policy.leewaySeconds.isFinite ? min(max(policy.leewaySeconds, 0), longestLeeway) : 0
        guard let exp = claims.exp else { return .failure(.badClaims("exp is required")) }
        // Comparisons only: an infinite or huge exp or nbf is fine here, and is clamped below.
        if !(now <= exp + leeway) { return .failure(.expired) }
        if let nbf = claims.nbf, now + leeway < nbf { return .failure(.notYetValid) }
        if let issuer = policy.issuer, claims.iss != issuer { return .failure(.wrongIssuer) }
        if let audience = policy.audience, !(claims.aud?.values.contains(audience) ?? false) { return .failure(.wrongAudience) }
        guard let subject = claims.sub ?? claims.name else { return .failure(.badClaims("sub or name is required")) }
        let name = claims.name ?? subject
        guard Sanitize.isValidName(name) else { return .failure(.badClaims("name must be 1-24 of A-Z a-z 0-9 _ - and space")) }
        var role = Role.user
        if let text = claims.role {
            guard let parsed = Role(rawValue: text) else { return .failure(.badClaims("role must be user, moderator or admin")) }
            role = parsed
        }
        var rooms = RoomPatterns.all
        if let list = claims.rooms {
            guard let parsed = RoomPatterns(list) else { return .failure(.badClaims("rooms must be room names or prefix* patterns")) }
            rooms = parsed
        }
        return .success(
            Identity(
                name: name, role: role, rooms: rooms, guestNames: policy.guestNames,
                userKey: "jwt:\(keyPart(claims.iss ?? "")):\(keyPart(subject))",
                expiresAt: clampedExpiry(exp + leeway, now: now)))
    }

    /// An issuer or subject as it appears in the user key (`jwt:ISSUER:SUBJECT`, what
    /// operators mute and kick by): printable ASCII as it is, anything else (and `%`)
    /// percent-encoded as UTF-8. Found by fuzzing: a subject or issuer starting with a
    /// combining mark merged with the `:` before it into one Character, so the key no longer
    /// began with `jwt:` as Swift compares Strings, and canonically equivalent spellings of
    /// one subject would have been one user.
    public static func keyPart(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }

    /// `end` bounded by `latestExpiry` and `now + longestLifetime`, always finite.
    public static func clampedExpiry(_ end: Double, now: Double) -> Double {
        let horizon = now.isFinite ? min(latestExpiry, max(now, 0) + longestLifetime) : latestExpiry
        guard end.isFinite else { return end < 0 ? 0 : horizon }
        return min(max(end, 0), horizon)
    }

    /// The claims chatd reads; others are ignored. Numbers may be fractional (RFC 7519
    /// NumericDate); `aud` is a string or a list of strings.
    private struct Payload: Decodable {
        var exp: Double?
        var nbf: Double?
        var iss: String?
        var aud: Audience?
        var sub: String?
        var name: String?
        var role: String?
        var rooms: [String]?
    }

    private struct Audience: Decodable {
        var values: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) {
                values = [one]
            } else {
                values = try container.decode([String].self)
            }
        }
    }
}
