import ChatCore
import Foundation
import JWTKit

/// Verifies JWTs signed with the one key of `[auth.jwt]`: the signature with jwt-kit, then
/// the claims with `JWTClaims` (ChatCore): `exp` (required), `nbf`, `iss` and `aud` with the
/// configured leeway, then chatd's own.
///
/// Claims: `name` (else `sub`) is the display name; `role` is user, moderator or admin
/// (default user); `rooms` is a list of room names and `prefix*` patterns (default all).
struct JWTVerifier: Sendable {
    private let keys: JWTKeyCollection
    /// Adds the key to the collection (an actor); every verification awaits it first.
    private let loaded: Task<Void, Never>
    private let config: Credentials.JWTKey

    /// Parses the key now, so that a bad key fails the load or reload that brought it.
    init(_ config: Credentials.JWTKey) throws {
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
        do {
            _ = try await keys.verify(token, as: SignatureOnly.self)
        } catch {
            return .failure(.badSignature)
        }
        // The signature holds, so the payload is the issuer's; its claims are still read by
        // one pure function that clamps every number (it is fuzzed: Fuzz/FuzzJWTClaims).
        guard let payload = Self.segment(1, of: token) else { return .failure(.badSignature) }
        let policy = JWTClaims.Policy(
            issuer: config.issuer, audience: config.audience,
            leewaySeconds: config.leewaySeconds, guestNames: config.guestNames)
        switch JWTClaims.identity(payload: payload, now: now.timeIntervalSince1970, policy: policy) {
        case let .success(identity): return .success(identity)
        case .failure(.expired): return .failure(.expired)
        case .failure(.notYetValid): return .failure(.notYetValid)
        case .failure(.wrongIssuer): return .failure(.wrongIssuer)
        case .failure(.wrongAudience): return .failure(.wrongAudience)
        case let .failure(.badClaims(why)): return .failure(.badClaims(why))
        }
    }

    /// The base64url-decoded bytes of part `index` of a compact JWT.
    private static func segment(_ index: Int, of token: String) -> Data? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[index].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    private static func algorithm(of token: String) -> String? {
        guard let data = segment(0, of: token),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["alg"] as? String
    }
}

/// What jwt-kit decodes: nothing. It checks the signature; the claims are `JWTClaims`'s to
/// read, so that one fuzzed function, not two decoders, decides what a payload means.
struct SignatureOnly: JWTPayload {
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

public struct JWTKeyError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
