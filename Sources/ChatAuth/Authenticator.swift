public import ChatCore
import Crypto
public import Foundation

/// Turns a presented token into an `Identity`, or nil (401). Built from `[auth]` on start
/// and on every reload, so that every later check runs against the credentials in force.
///
/// Plain tokens (`auth.tokens`, `auth.moderator_tokens`) are compared in constant time;
/// named credentials are found by the SHA-256 of the token, which leaks nothing a timing
/// attack could use; JWTs are verified by `JWTVerifier`.
public struct Authenticator: Sendable {
    private let plainUsers: [String]
    private let plainModerators: [String]
    private let hashed: [String: Identity]
    private let jwt: JWTVerifier?

    /// Throws when the JWT key cannot be used (the message names what is wrong with it).
    public init(_ auth: Credentials) throws {
        plainUsers = auth.tokens
        plainModerators = auth.moderatorTokens
        var hashed: [String: Identity] = [:]
        for (name, credential) in auth.named {
            hashed[credential.tokenSHA256.lowercased()] = Identity(
                name: name, role: credential.role, rooms: RoomPatterns(credential.rooms) ?? RoomPatterns([])!,
                guestNames: credential.guestNames, userKey: "credential:\(name)")
        }
        self.hashed = hashed
        jwt = try auth.jwt.map(JWTVerifier.init)
    }

    /// True when plain tokens are configured: fine for development, worth a warning otherwise.
    public var hasPlainTokens: Bool { !plainUsers.isEmpty || !plainModerators.isEmpty }

    /// The identity of a static token, without suspending; nil when it is none (it may still
    /// be a JWT: see `mayBeJWT`).
    public func staticIdentity(_ token: String) -> Identity? {
        if let identity = hashed[Self.sha256Hex(token)] { return identity }
        // Both lists are always compared in full: no early exit reveals which one matched.
        let moderator = ConstantTime.matchesAny(token, in: plainModerators)
        let user = ConstantTime.matchesAny(token, in: plainUsers)
        guard moderator || user else { return nil }
        // Plain tokens are shared, so the user is the token together with the chosen name;
        // the name is filled in at admission (guest names).
        return Identity(
            name: Sanitize.defaultName, role: moderator ? .moderator : .user, guestNames: true,
            userKey: "token:" + Self.sha256Hex(token).prefix(24))
    }

    /// True when JWTs are on and `token` has a JWT's shape: worth verifying (after
    /// `staticIdentity` found nothing).
    public func mayBeJWT(_ token: String) -> Bool {
        jwt != nil && JWTVerifier.hasJWTShape(token)
    }

    /// The identity `token` names now, or why it names none.
    public func identify(_ token: String, now: Date = Date()) async -> Result<Identity, AuthFailure> {
        if let identity = staticIdentity(token) { return .success(identity) }
        guard let jwt, JWTVerifier.hasJWTShape(token) else { return .failure(.unknownToken) }
        return await jwt.verify(token, now: now)
    }

    /// Lowercase hex by table: `String(format:)` here cost a quarter of chatd's CPU per
    /// handshake (chatbench handshakes, perf).
    static func sha256Hex(_ token: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(token.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

/// Why a credential was refused; the reason goes into the 401 body and the log, never the
/// token itself.
public enum AuthFailure: Error, Sendable, Equatable {
    case unknownToken
    case badSignature
    case expired
    case notYetValid
    case wrongIssuer
    case wrongAudience
    case badClaims(String)

    public var reason: String {
        switch self {
        case .unknownToken: "missing or invalid token"
        case .badSignature: "invalid token signature"
        case .expired: "token expired"
        case .notYetValid: "token not yet valid (nbf)"
        case .wrongIssuer: "token issuer not accepted"
        case .wrongAudience: "token audience not accepted"
        case let .badClaims(why): "invalid token claims: \(why)"
        }
    }
}
