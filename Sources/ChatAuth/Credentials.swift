public import ChatCore

/// What the `Authenticator` is built from: `[auth]` as plain values. ChatAuth does not read
/// the configuration; ChatServer maps its sections to these on start and on every reload.
public struct Credentials: Sendable, Equatable {
    /// `[auth.credentials.NAME]`: a token known by its SHA-256, with what it may do.
    public struct Named: Sendable, Equatable {
        public var tokenSHA256: String
        public var role: Role
        public var rooms: [String]
        public var guestNames: Bool

        public init(tokenSHA256: String, role: Role = .user, rooms: [String] = ["*"], guestNames: Bool = false) {
            self.tokenSHA256 = tokenSHA256
            self.role = role
            self.rooms = rooms
            self.guestNames = guestNames
        }
    }

    /// `[auth.jwt]`: the one key JWTs are signed with, and the claims they need.
    public struct JWTKey: Sendable, Equatable {
        /// HS256, EdDSA or RS256.
        public var algorithm: String
        /// Where the key came from, for error messages.
        public var keyFile: String
        /// The HS256 secret, or the PEM public key of EdDSA/RS256.
        public var key: [UInt8]
        public var issuer: String?
        public var audience: String?
        public var leewaySeconds: Double
        public var guestNames: Bool

        public init(
            algorithm: String, keyFile: String, key: [UInt8], issuer: String? = nil, audience: String? = nil,
            leewaySeconds: Double = 30, guestNames: Bool = false
        ) {
            self.algorithm = algorithm
            self.keyFile = keyFile
            self.key = key
            self.issuer = issuer
            self.audience = audience
            self.leewaySeconds = leewaySeconds
            self.guestNames = guestNames
        }
    }

    /// Plain tokens: for development.
    public var tokens: [String]
    public var moderatorTokens: [String]
    public var named: [String: Named]
    public var jwt: JWTKey?

    public init(tokens: [String] = [], moderatorTokens: [String] = [], named: [String: Named] = [:], jwt: JWTKey? = nil) {
        self.tokens = tokens
        self.moderatorTokens = moderatorTokens
        self.named = named
        self.jwt = jwt
    }
}
