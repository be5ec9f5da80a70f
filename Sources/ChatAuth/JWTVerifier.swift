import ChatConfig
import ChatCore
import Foundation
import JWTKit

/// Verifies JWTs signed with the one key of `[auth.jwt]`: signature (jwt-kit), then `exp`
/// (required), `nbf`, `iss` and `aud` with the configured leeway, then chatd's claims.
///
/// Claims: `name` (else `sub`) is the display name; `role` is user, moderator or admin
/// (default user); `rooms` is a list of room names and `prefix*` patterns (default all).
struct JWTVerifier: Sendable {
    private let keys: JWTKeyCollection
    /// Adds the key to the collection (an actor); every verification awaits it first.
    private let loaded: Task<Void, Never>
    private let config: Config.JWT

    /// Parses the key now, so that a bad key fails the load or reload that brought it.
    init(_ config: Config.JWT) throws {
        self.config = config
        let keys = JWTKeyCollection()
        let text = String(decoding: config.key, as: UTF8.self)
        do {
            switch config.algorithm {
            case "HS256":
                let key = HMACKey(from: config.key)
                loaded = Task { await keys.add(hmac: key, digestAlgorithm: .sha256) }
            case "EdDSA":
                let key = try EdDSA.PublicKey(pem: text)
                loaded = Task { await keys.add(eddsa: key) }
            case "RS256":
                let key = try Insecure.RSA.PublicKey(pem: text)
                loaded = Task { await keys.add(rsa: key, digestAlgorithm: .sha256) }
            default:
                throw JWTKeyError(message: "unsupported algorithm \(config.algorithm)")
            }
        } catch let error as JWTKeyError {
            throw error
        } catch {
            throw JWTKeyError(message: "\(config.keyFile) is not a usable \(config.algorithm) public key: \(error)")
        }
        self.keys = keys
    }

    /// Three base64url parts: worth verifying rather than refusing as an unknown token.
    static func hasJWTShape(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0].hasPrefix("eyJ") && token.utf8.count < 8192
    }

    func verify(_ token: String, now: Date) async -> Result<Identity, AuthFailure> {
        // The header must name the configured algorithm: no "none", no HS256 signed with a
        // public key taken for a secret.
        guard Self.algorithm(of: token) == config.algorithm else { return .failure(.badSignature) }
        await loaded.value
        let claims: ChatClaims
        do {
            claims = try await keys.verify(token, as: ChatClaims.self)
        } catch {
            return .failure(.badSignature)
        }
        let t = now.timeIntervalSince1970
        guard let exp = claims.exp?.value.timeIntervalSince1970 else { return .failure(.badClaims("exp is required")) }
        if t > exp + config.leewaySeconds { return .failure(.expired) }
        if let nbf = claims.nbf?.value.timeIntervalSince1970, t + config.leewaySeconds < nbf { return .failure(.notYetValid) }
        if let issuer = config.issuer, claims.iss?.value != issuer { return .failure(.wrongIssuer) }
        if let audience = config.audience, !(claims.aud?.value.contains(audience) ?? false) { return .failure(.wrongAudience) }
        guard let subject = claims.sub?.value ?? claims.name else { return .failure(.badClaims("sub or name is required")) }
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
        return .success(Identity(name: name, role: role, rooms: rooms, guestNames: config.guestNames,
                                 userKey: "jwt:\(claims.iss?.value ?? ""):\(subject)", expiresAt: exp + config.leewaySeconds))
    }

    private static func algorithm(of token: String) -> String? {
        guard let header = token.split(separator: ".").first else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["alg"] as? String
    }
}

/// The claims chatd reads; registered ones are checked by `JWTVerifier` with leeway.
struct ChatClaims: JWTPayload {
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var sub: SubjectClaim?
    var name: String?
    var role: String?
    var rooms: [String]?

    // The signature is jwt-kit's to check; time and audience are checked with leeway after.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

public struct JWTKeyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
