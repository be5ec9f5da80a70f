public import ChatCore

/// chatd's validated configuration. Every field's default is the article's behaviour; the
/// same defaults are documented in etc/chatd.toml and chatd.toml(5).
public struct Config: Sendable, Equatable {
    public var server = Server()
    public var auth = Auth()
    public var limits = Limits()
    public var heartbeat = Heartbeat()
    public var compression = Compression()
    public var history = History()
    public var rooms = Rooms()
    public var log = Log()
    public var control = Control()
    public var moderation = Moderation()
    public var retention = Retention()
    public var metrics = Metrics()
    public var api = API()
    public var cluster = Cluster()
    public var proxy = Proxy()
    /// `[webhooks.NAME]`, by name.
    public var webhooks: [String: Webhook] = [:]

    public init() {}

    /// `POST /api/publish`: server push into rooms.
    public struct API: Sendable, Equatable {
        /// Keys that may publish (`[api.keys.NAME]`); none disables the endpoint (404).
        public var keys: [String: APIKey] = [:]
        /// Largest request body. Default 65536.
        public var maxBodyBytes = 65536

        public init() {}
    }

    public struct APIKey: Sendable, Equatable {
        /// Lowercase hex SHA-256 of the key.
        public var keySHA256 = ""
        /// Rooms the key may publish to (names and `prefix*`). Default ["*"].
        public var rooms: [String] = ["*"]

        public init() {}
    }

    public struct Server: Sendable, Equatable {
        /// Addresses to listen on when not socket-activated. Default `127.0.0.1:8080`.
        public var listen: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 8080)]
        /// Folder holding the browser page (index.html, app.js, style.css). Default: the first
        /// of `$CHATD_WEB_ROOT`, `<prefix>/share/chatd/www` beside the binary, `./web`.
        public var webRoot: String?
        /// Enables the echo endpoint (`/chat?…&echo=1`) for protocol conformance testing.
        /// Default false.
        public var echoEndpoint = false
        /// Proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the client.
        /// Default [] (the peer address is the client).
        public var trustedProxies: [String] = []
        /// Seconds a graceful stop waits for clients to close after sending them 1001.
        /// Keep it below the unit's `TimeoutStopSec=`. Default 5.
        public var drainSeconds: Double = 5
        /// Event loop threads; 0 is one per core (as cgroups and cpusets allow). Default 0.
        public var threads = 0
    }

    public struct Auth: Sendable, Equatable {
        /// Plain tokens accepted at the upgrade, for development (chatd warns): any guest
        /// name, every room. Default `["dev-token"]`.
        public var tokens: [String] = ["dev-token"]
        /// Plain tokens that carry the moderator role. Default [].
        public var moderatorTokens: [String] = []
        /// Named credentials (`[auth.credentials.NAME]`), their tokens stored as SHA-256.
        public var credentials: [String: Credential] = [:]
        /// JSON Web Tokens (`[auth.jwt]`); nil accepts none.
        public var jwt: JWT?
        /// Origins allowed at the upgrade. Default (nil): `http://localhost:PORT` and
        /// `http://127.0.0.1:PORT` for the first listen port, as the article does.
        public var allowedOrigins: [String]?

        public init() {}
    }

    /// One `[auth.credentials.NAME]`: NAME is the identity and display name.
    public struct Credential: Sendable, Equatable {
        /// Lowercase hex SHA-256 of the token (`printf %s TOKEN | sha256sum`).
        public var tokenSHA256 = ""
        public var role: Role = .user
        /// Room names and `prefix*` patterns this credential may use. Default ["*"].
        public var rooms: [String] = ["*"]
        /// Lets the client choose its display name with `name`. Default false.
        public var guestNames = false

        public init() {}
    }

    /// `[auth.jwt]`: which signatures and claims a JWT needs.
    public struct JWT: Sendable, Equatable {
        public static let algorithms = ["HS256", "EdDSA", "RS256"]
        /// HS256 (a shared secret), EdDSA (Ed25519) or RS256 (RSA, 2048 bits or more).
        public var algorithm = "HS256"
        /// The HS256 secret, or the PEM public key of EdDSA/RS256.
        public var keyFile = ""
        /// The key file's contents, read when the config is loaded (and on reload).
        public var key: [UInt8] = []
        /// Required `iss`, when set.
        public var issuer: String?
        /// Required among `aud`, when set.
        public var audience: String?
        /// Clock skew allowed on `exp` and `nbf`. Default 30.
        public var leewaySeconds: Double = 30
        /// A session is told `expiring` this long before its token expires, so the client can
        /// send a new one (`refresh`); 0 tells nothing. Default 60.
        public var refreshAheadSeconds: Double = 60
        /// Lets JWT holders choose their display name with `name`. Default false.
        public var guestNames = false

        public init() {}
    }

    public struct Limits: Sendable, Equatable {
        /// Longest message text, in UTF-16 units (JavaScript's `length`). Default 500.
        public var maxMessageChars = 500
        /// Largest WebSocket frame or reassembled message a client may send. Default 4096.
        public var maxFrameBytes = 4096
        /// Frames one message may be split into; more closes with 1009. Bounds the work a
        /// fragment flood costs (the class of bug in the `ws` library's advisories). Default 128.
        public var maxFragments = 128
        /// Messages a connection may send per window (token bucket). Default 20.
        public var rateMessages = 20
        /// The window of `rateMessages`, in seconds. Default 10.
        public var rateWindowSeconds: Double = 10
        /// Messages one user (token and name) may send per window over all connections. Default 40.
        public var userRateMessages = 40
        /// Messages one client address may send per window over all connections. Default 200.
        public var ipRateMessages = 200
        /// Open connections per client address. Default 100.
        public var maxConnectionsPerIP = 100
        /// Upgrade attempts per client address per minute; more get 429. Default 120.
        public var upgradesPerMinutePerIP = 120
        /// Open connections in all; more upgrades get 503. Default 20000.
        public var maxConnections = 20000
        /// Seconds a connection has to become a WebSocket (a plain HTTP connection is closed
        /// after this too). Default 10.
        public var handshakeTimeoutSeconds: Double = 10
        /// Largest request head (request line and headers), in bytes; more get 400. Default 8192.
        public var maxHeaderBytes = 8192
        /// Most header fields in a request; more get 400. Default 64.
        public var maxHeaders = 64
        /// Rooms one connection may be in at once; more `join`s get `too_many_rooms`. Default 16.
        public var maxRoomsPerConnection = 16
        /// Different emoji one message may have as reactions; a `react` with another gets
        /// `too_many_reactions`. Default 20.
        public var maxReactionsPerMessage = 20
        /// Unsent bytes a connection may have before it counts as behind: its rooms'
        /// `slow_consumer` policy then applies. Default 65536.
        public var sendBufferBytes = 65536
        /// Events a behind connection keeps for its `drop_oldest` rooms; older ones are
        /// dropped and counted. Default 256.
        public var sendQueueFrames = 256
        /// Rooms held in memory at once; a join of a new room beyond it gets `server_full`.
        /// Default 10000.
        public var maxRooms = 10000
        /// TCP connections not yet upgraded (in the handshake, or plain HTTP), in all; more
        /// are closed at accept. Default 1024.
        public var maxPendingConnections = 1024
        /// Connections not yet upgraded per client address (see `ipv6PrefixLength`). Default 32.
        public var maxPendingPerIP = 32
        /// Per-address limits group IPv6 clients by this prefix length, since one host or
        /// site usually holds a whole /64. Default 64.
        public var ipv6PrefixLength = 64
    }

    /// permessage-deflate (RFC 7692), offered by browsers: each message compressed on its
    /// own (no context kept between messages), each broadcast once for all its members.
    public struct Compression: Sendable, Equatable {
        /// Accept clients' permessage-deflate offers. Default true.
        public var enabled = true
        /// Messages shorter than this are sent uncompressed. Default 128.
        public var minBytes = 128
        /// zlib level: 1 fastest … 9 smallest. Default 6.
        public var level = 6
    }

    public struct Heartbeat: Sendable, Equatable {
        /// Seconds between pings; a connection that has not answered the previous ping by
        /// the next one is terminated. Default 30.
        public var pingIntervalSeconds: Double = 30
    }

    /// Several nodes on one PostgreSQL database (docs/cluster.md). Without `database_url`
    /// chatd is a single node with its history in SQLite.
    public struct Cluster: Sendable, Equatable {
        /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]`; the
        /// environment variable `CHATD_DATABASE_URL` wins (keeps the password out of the file).
        /// Default "" (no cluster).
        public var databaseURL = ""
        /// This node's name in presence, `chatctl status` and metrics. Default: the host name.
        public var nodeID = ""
        /// How often a node tells the others it is alive (and its rooms' member counts).
        /// Default 2.
        public var heartbeatSeconds: Double = 2
        /// A node not heard from for this long is gone: its members leave every room's
        /// count. Default 10.
        public var nodeTimeoutSeconds: Double = 10

        public var isEnabled: Bool { !databaseURL.isEmpty }
        public var database: PostgresURL? { PostgresURL(databaseURL) }
    }

    public struct History: Sendable, Equatable {
        /// Messages per room kept in memory and sent to each new connection. Default 50.
        public var window = 50
        /// The SQLite database. Default (""): `$STATE_DIRECTORY/history.sqlite` under systemd
        /// (`StateDirectory=chatd`: /var/lib/chatd), else `./data/history.sqlite`.
        public var path = ""
        /// SQLite's `synchronous`: "normal" survives a crash of chatd, "full" also a power
        /// loss (an fsync per batch). Default "normal".
        public var synchronous = "normal"
        /// Most messages a reconnecting client is sent to catch up (`since`); a longer gap
        /// gets `recovered: false` and the latest window. Default 1000.
        public var resumeLimit = 1000

        /// The database file in force for this environment.
        public func resolvedPath(environment: [String: String]) -> String {
            if !path.isEmpty { return path }
            if let state = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !state.isEmpty {
                return "\(state)/history.sqlite"
            }
            return "data/history.sqlite"
        }
    }

    public struct Rooms: Sendable, Equatable {
        /// Room for clients that name none (or an invalid one). Default "lobby".
        public var defaultRoom = "lobby"
        /// Per-room rules (`[rooms.rules.PATTERN]`, PATTERN a room, `prefix*` or `*`).
        public var rules: [String: RoomRule] = [:]
    }

    public struct Log: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error or critical. Default "info".
        public var level = "info"
    }

    /// How long history is kept. Each room has a policy: its entry in `rooms`, else the
    /// defaults. 0 means no limit.
    public struct Retention: Sendable, Equatable {
        public struct Policy: Sendable, Equatable {
            /// Keep at most this many messages per room. Default 0 (no limit).
            public var maxMessages = 0
            /// Delete messages older than this many hours. Default 0 (no limit).
            public var maxAgeHours: Double = 0

            public init(maxMessages: Int = 0, maxAgeHours: Double = 0) {
                self.maxMessages = maxMessages
                self.maxAgeHours = maxAgeHours
            }

            public var isUnlimited: Bool { maxMessages == 0 && maxAgeHours == 0 }
        }

        public var defaults = Policy()
        /// Per-room policies (`[retention.rooms.NAME]`).
        public var rooms: [String: Policy] = [:]
        /// Seconds between runs of the retention job. Default 60.
        public var intervalSeconds: Double = 60
        /// Audit log entries older than this many hours are deleted by the retention job;
        /// 0 keeps the audit log forever. Default 8760 (one year).
        public var auditMaxAgeHours: Double = 8760

        public func policy(for room: String) -> Policy { rooms[room] ?? defaults }
    }

    public struct Moderation: Sendable, Equatable {
        /// Seconds after sending during which an author may delete their own message.
        /// 0 disables author deletes. Default 300.
        public var authorDeleteSeconds: Double = 300
        /// Seconds after sending during which an author may edit their own message.
        /// 0 disables author edits. Default 900.
        public var authorEditSeconds: Double = 900
    }

    public struct Control: Sendable, Equatable {
        /// Path of the control socket (mode 0660). Empty disables it.
        /// Default `/run/chatd/control.sock`.
        public var socket = "/run/chatd/control.sock"
        /// Peer uids allowed on the control socket, besides root and chatd's own uid.
        /// Default [] (root and chatd's own user only).
        public var allowedUIDs: [Int] = []
        /// Groups (by name) whose members may use the control socket. Default ["chatd"].
        public var allowedGroups: [String] = ["chatd"]
    }

    /// One backend told of events (docs/integration.md): each event is a signed POST.
    public struct Webhook: Sendable, Equatable {
        /// Where events are POSTed (`http://` or `https://`). Required.
        public var url = ""
        /// The HMAC-SHA256 key's file (relative paths from the config file's folder), read
        /// like `auth.jwt.key_file`'s HS256 secret: at least 32 bytes. Required.
        public var secretFile = ""
        /// The key itself, read from `secretFile` at load.
        public var secret: [UInt8] = []
        /// Which events: any of `WebhookEventType`'s names. Default: all of them.
        public var events: [String] = WebhookEventType.allCases.map(\.rawValue)
        /// Which rooms' events: names or `prefix*` patterns. Default `["*"]`.
        public var rooms: [String] = ["*"]
        /// How long one delivery may take. Default 5.
        public var timeoutSeconds: Double = 5
        /// An event not delivered this long after it happened is kept as failed (at most 30
        /// days). Default 86400.
        public var maxAgeSeconds: Double = 86400
    }

    /// The application's backend deciding for chatd (docs/integration.md).
    public struct Proxy: Sendable, Equatable {
        /// What `publish_on_error` may say.
        public enum OnError: String, Sendable, Equatable, CaseIterable {
            case reject
            case accept
        }

        /// An upgrade that carries no token is POSTed here; the answer admits it with an
        /// identity or refuses it. Default "" (tokens only).
        public var connectURL = ""
        /// A client's message is POSTed here before it is stored; the answer keeps, rewrites
        /// or rejects it. Default "" (no check).
        public var publishURL = ""
        /// Request headers passed on to `connect_url` (by name, case-insensitive).
        /// Default `["cookie", "authorization"]`.
        public var forwardHeaders: [String] = ["cookie", "authorization"]
        /// How long chatd waits for the backend's answer. Default 5.
        public var timeoutSeconds: Double = 5
        /// What happens to a message when `publish_url` does not answer usably (timeout,
        /// 5xx, a body that is not the protocol's). Default `reject`.
        public var publishOnError: OnError = .reject
    }

    public struct Metrics: Sendable, Equatable {
        /// Address of the Prometheus listener (`GET /metrics`) when not socket-activated
        /// with a `metrics` fd. Empty disables it. Default `127.0.0.1:9464`.
        public var listen: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9464)
    }

    /// The origins in force: the configured list, or the article's two for the first port.
    public var effectiveOrigins: [String] {
        if let origins = auth.allowedOrigins { return origins }
        let port = server.listen.first?.port ?? 8080
        return ["http://localhost:\(port)", "http://127.0.0.1:\(port)"]
    }
}

/// A `host:port` to bind; IPv6 hosts are written in brackets (`[::1]:8080`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `host:port`, `[v6]:port`; nil when malformed or the port is out of range.
    public static func parse(_ text: String) -> ListenAddress? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        return ListenAddress(host: String(host), port: port)
    }
}
