import ChatCore
import Crypto
import Foundation
import JWTKit
import Testing
import _CryptoExtras

@testable import ChatAuth

/// The claims a test signs; `exp`/`nbf` as numbers, as issuers write them.
struct TestClaims: JWTPayload {
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?
    var sub: SubjectClaim?
    var name: String?
    var role: String?
    var rooms: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

let secret = "0123456789abcdef0123456789abcdef-test-secret"

func hs256(_ claims: TestClaims, secret: String = secret) async throws -> String {
    let keys = JWTKeyCollection()
    await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    return try await keys.sign(claims)
}

func authenticator(
    jwt: Credentials.JWTKey? = nil, credentials: [String: Credentials.Named] = [:],
    tokens: [String] = ["dev-token"], moderators: [String] = []
) throws -> Authenticator {
    try Authenticator(Credentials(tokens: tokens, moderatorTokens: moderators, named: credentials, jwt: jwt))
}

func hsConfig(issuer: String? = nil, audience: String? = nil) -> Credentials.JWTKey {
    var jwt = Credentials.JWTKey(algorithm: "HS256", keyFile: "", key: [])
    jwt.algorithm = "HS256"
    jwt.keyFile = "secret"
    jwt.key = Array(secret.utf8)
    jwt.issuer = issuer
    jwt.audience = audience
    jwt.leewaySeconds = 5
    return jwt
}

func claims(
    sub: String = "u1", name: String? = "alice", exp: Double = 3600, role: String? = nil,
    rooms: [String]? = nil
) -> TestClaims {
    TestClaims(exp: .init(value: Date().addingTimeInterval(exp)), sub: .init(value: sub), name: name, role: role, rooms: rooms)
}

@Suite struct StaticTokenTests {
    @Test func hashedCredentialsCarryNameRoleAndRooms() throws {
        var c = Credentials.Named(tokenSHA256: "")
        c.tokenSHA256 = Authenticator.sha256Hex("s3cret")
        c.role = .moderator
        c.rooms = ["team-*"]
        let auth = try authenticator(credentials: ["alice": c], tokens: [])
        let identity = try #require(auth.staticIdentity("s3cret"))
        #expect(identity.name == "alice" && identity.role == .moderator && !identity.guestNames)
        #expect(identity.mayUse(room: "team-a") && !identity.mayUse(room: "lobby"))
        #expect(auth.staticIdentity("s3cret ") == nil)
        #expect(auth.staticIdentity(c.tokenSHA256) == nil)  // the hash itself is not a token
        #expect(!auth.hasPlainTokens)
    }

    @Test func plainTokensAreGuestsAndWarned() throws {
        let auth = try authenticator(moderators: ["mod"])
        #expect(auth.hasPlainTokens)
        #expect(auth.staticIdentity("dev-token")?.guestNames == true)
        #expect(auth.staticIdentity("dev-token")?.role == .user)
        #expect(auth.staticIdentity("mod")?.role == .moderator)
        #expect(auth.staticIdentity("dev-toke") == nil)
    }
}

@Suite struct JWTTests {
    @Test func validTokenGivesItsClaims() async throws {
        let auth = try authenticator(jwt: hsConfig(issuer: "idp", audience: "chatd"))
        var c = claims(role: "admin", rooms: ["ops", "dash-*"])
        c.iss = .init(value: "idp")
        c.aud = .init(value: ["other", "chatd"])
        let token = try await hs256(c)
        #expect(auth.staticIdentity(token) == nil && auth.mayBeJWT(token))
        #expect(Authenticator.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let identity = try await auth.identify(token).get()
        #expect(identity.name == "alice" && identity.role == .admin && identity.userKey == "jwt:idp:u1")
        #expect(identity.rooms.matches("dash-1") && !identity.rooms.matches("lobby"))
        #expect(identity.expiresAt != nil)
    }

    @Test func refusals() async throws {
        let auth = try authenticator(jwt: hsConfig(issuer: "idp", audience: "chatd"))
        func check(_ c: TestClaims, _ expected: AuthFailure, secret: String = secret) async throws {
            let token = try await hs256(c, secret: secret)
            #expect(await auth.identify(token) == .failure(expected))
        }
        var good = claims()
        good.iss = .init(value: "idp")
        good.aud = .init(value: ["chatd"])
        var c = good
        c.exp = .init(value: Date().addingTimeInterval(-60))
        try await check(c, .expired)
        c = good
        c.nbf = .init(value: Date().addingTimeInterval(60))
        try await check(c, .notYetValid)
        c = good
        c.iss = .init(value: "evil")
        try await check(c, .wrongIssuer)
        c = good
        c.aud = .init(value: ["someone-else"])
        try await check(c, .wrongAudience)
        c = good
        c.exp = nil
        try await check(c, .badClaims("exp is required"))
        c = good
        c.role = "root"
        try await check(c, .badClaims("role must be user, moderator or admin"))
        c = good
        c.name = "<script>"
        try await check(c, .badClaims("name must be 1-24 of A-Z a-z 0-9 _ - and space"))
        try await check(good, .badSignature, secret: String(secret.reversed()))
    }

    @Test func leewayAllowsSmallSkew() async throws {
        let auth = try authenticator(jwt: hsConfig())
        let token = try await hs256(claims(exp: -2))
        #expect(try await auth.identify(token).get().name == "alice")
    }

    @Test func unsignedAndForgedAlgorithmsAreRefused() async throws {
        let auth = try authenticator(jwt: hsConfig())
        func b64(_ s: String) -> String {
            Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }
        let exp = Int(Date().timeIntervalSince1970) + 600
        let none = b64(#"{"alg":"none","typ":"JWT"}"#) + "." + b64(#"{"sub":"x","exp":\#(exp)}"#) + "."
        #expect(await auth.identify(none) == .failure(.badSignature))
        let garbage = "eyJ" + "x.y.z"
        #expect(await auth.identify(garbage) == .failure(.badSignature))
        #expect(await auth.identify("not-a-jwt") == .failure(.unknownToken))
    }

    @Test func eddsaAndRS256PublicKeys() async throws {
        let ed = try EdDSA.PrivateKey(curve: .ed25519)
        var edConfig = Credentials.JWTKey(algorithm: "HS256", keyFile: "", key: [])
        edConfig.algorithm = "EdDSA"
        edConfig.key = Array(ed.publicKey.pemRepresentation.utf8)
        let edKeys = JWTKeyCollection()
        await edKeys.add(eddsa: ed)
        let edToken = try await edKeys.sign(claims(name: "ed"))
        #expect(try await authenticator(jwt: edConfig).identify(edToken).get().name == "ed")

        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        var rsConfig = Credentials.JWTKey(algorithm: "HS256", keyFile: "", key: [])
        rsConfig.algorithm = "RS256"
        rsConfig.key = Array(rsa.publicKey.pemRepresentation.utf8)
        let rsKeys = JWTKeyCollection()
        await rsKeys.add(rsa: try Insecure.RSA.PrivateKey(pem: rsa.pemRepresentation), digestAlgorithm: .sha256)
        let rsToken = try await rsKeys.sign(claims(name: "rs"))
        let rsAuth = try authenticator(jwt: rsConfig)
        #expect(try await rsAuth.identify(rsToken).get().name == "rs")
        // An HS256 token "signed" with the RSA public key as secret must not pass.
        let confused = try await hs256(claims(), secret: rsa.publicKey.pemRepresentation)
        #expect(await rsAuth.identify(confused) == .failure(.badSignature))
        // The Ed25519 token is not accepted by the RSA configuration.
        #expect(await rsAuth.identify(edToken) == .failure(.badSignature))
    }

    @Test func unusableKeysFailAtLoad() {
        var c = Credentials.JWTKey(algorithm: "HS256", keyFile: "", key: [])
        c.algorithm = "EdDSA"
        c.keyFile = "/etc/chatd/jwt.pem"
        c.key = Array("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".utf8)
        #expect(throws: JWTKeyError.self) { try authenticator(jwt: c) }
    }
}

/// Claims as raw numbers, so that a test can sign values no `Date` claim would carry.
struct RawNumberClaims: JWTPayload {
    var exp: Double?
    var nbf: Double?
    var sub: String = "u1"

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// A validly signed `exp` of 1e16 once crashed chatd (a Double → Int64 trap when the expiry
/// became a timer): every signed extreme gives a clamped expiry or a clean refusal.
@Suite struct JWTExtremeClaimTests {
    func identify(_ claims: RawNumberClaims, now: Date = Date()) async throws -> Result<Identity, AuthFailure> {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let token = try await keys.sign(claims)
        let auth = try authenticator(jwt: hsConfig())
        return await auth.identify(token, now: now)
    }

    @Test(arguments: [1e16, 1e300, Double(Int64.max), 4e18, JWTClaims.latestExpiry + 1])
    func farExpiriesAreClamped(exp: Double) async throws {
        let now = Date()
        let identity = try await identify(RawNumberClaims(exp: exp), now: now).get()
        let expiresAt = try #require(identity.expiresAt)
        #expect(expiresAt.isFinite && expiresAt <= JWTClaims.latestExpiry)
        #expect(expiresAt <= now.timeIntervalSince1970 + JWTClaims.longestLifetime)
        // As a session arms its expiry timer: Int64 nanoseconds from now, which must not trap.
        #expect((expiresAt - now.timeIntervalSince1970) * 1e9 < Double(Int64.max))
    }

    @Test func pastAndFutureExtremesAreRefused() async throws {
        let soon = Date().timeIntervalSince1970 + 600
        #expect(try await identify(RawNumberClaims(exp: -1e16)) == .failure(.expired))
        #expect(try await identify(RawNumberClaims(exp: -1e300)) == .failure(.expired))
        #expect(try await identify(RawNumberClaims(exp: soon, nbf: 1e16)) == .failure(.notYetValid))
        #expect(try await identify(RawNumberClaims(exp: soon, nbf: 1e300)) == .failure(.notYetValid))
        #expect(try await identify(RawNumberClaims(exp: nil)) == .failure(.badClaims("exp is required")))
        // A negative nbf is simply in the past.
        #expect(try await identify(RawNumberClaims(exp: soon, nbf: -1e300)).get().name == "u1")
    }

    @Test func ordinaryExpiryIsKeptWithItsLeeway() async throws {
        let now = Date()
        let exp = (now.timeIntervalSince1970 + 600).rounded()
        let identity = try await identify(RawNumberClaims(exp: exp), now: now).get()
        #expect(identity.expiresAt == exp + 5)  // hsConfig's leeway
    }

    @Test func wronglyTypedClaimsAreRefusedByName() async throws {
        let soon = Int(Date().timeIntervalSince1970) + 600
        func signed(_ json: String) async throws -> Result<Identity, AuthFailure> {
            // Signed by hand: these payloads are JSON no Codable claims struct would write.
            let header = Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)
            func b64(_ d: Data) -> String {
                d.base64EncodedString().replacingOccurrences(of: "=", with: "")
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            }
            let input = b64(header) + "." + b64(Data(json.utf8))
            let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
            let auth = try authenticator(jwt: hsConfig())
            return await auth.identify(input + "." + b64(Data(mac)))
        }
        #expect(try await signed(#"{"exp":"\#(soon)","sub":"u1"}"#) == .failure(.badClaims("exp has the wrong type")))
        #expect(try await signed(#"{"exp":\#(soon),"sub":"u1","rooms":"lobby"}"#) == .failure(.badClaims("rooms has the wrong type")))
        #expect(try await signed(#"{"exp":1e400,"sub":"u1"}"#) != .failure(.badSignature))
        #expect(try await signed(#"[1]"#) == .failure(.badClaims("the payload must be a JSON object")))
        #expect(try await signed(#"{"exp":\#(soon),"sub":"u1","name":"bob"}"#).get().name == "bob")
    }
}

/// User keys are printable ASCII whatever the issuer and subject hold (a fuzzing find).
@Suite struct JWTUserKeyTests {
    struct Claims: JWTPayload {
        var exp: Double
        var iss: String?
        var sub: String
        var name: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    func userKey(iss: String?, sub: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let token = try await keys.sign(Claims(exp: Date().timeIntervalSince1970 + 600, iss: iss, sub: sub, name: "n"))
        let auth = try authenticator(jwt: hsConfig())
        return try await auth.identify(token).get().userKey
    }

    @Test func aCombiningMarkCannotJoinTheSeparator() async throws {
        // U+0616 after ":" made one Character: the key no longer began with "jwt:".
        let key = try await userKey(iss: "\u{616}seid1", sub: "u1")
        #expect(key == "jwt:%D8%96seid1:u1" && key.hasPrefix("jwt:"))
    }

    @Test func equivalentSpellingsStayDistinctAndURLsStayReadable() async throws {
        #expect(try await userKey(iss: "https://id.example.com", sub: "u-1") == "jwt:https://id.example.com:u-1")
        let composed = try await userKey(iss: nil, sub: "\u{e9}")
        let decomposed = try await userKey(iss: nil, sub: "e\u{301}")
        #expect(composed == "jwt::%C3%A9" && decomposed == "jwt::e%CC%81" && composed != decomposed)
        #expect(try await userKey(iss: nil, sub: "a b%") == "jwt::a%20b%25")
    }
}
