import ChatCore
import TOMLKit

/// Walks the parsed TOML against chatd's schema: every section and key must be known and
/// of the right type. Ranges are checked afterwards by `Validation`, on the whole value.
struct TableReader {
    let file: String
    let lines: KeyLines

    typealias Apply = @Sendable (inout TableReader, any TOMLValueConvertible, String, inout Config) throws(ConfigError) -> Void

    /// section -> key -> how to read it. The single source of truth for the key set; the
    /// man page test compares against `ConfigSchema.keys`.
    static let schema: [String: [String: Apply]] = [
        "server": [
            "listen": { r, v, k, c throws(ConfigError) in c.server.listen = try r.listenList(v, k) },
            "web_root": { r, v, k, c throws(ConfigError) in c.server.webRoot = try r.string(v, k) },
            "echo_endpoint": { r, v, k, c throws(ConfigError) in c.server.echoEndpoint = try r.bool(v, k) },
            "trusted_proxies": { r, v, k, c throws(ConfigError) in c.server.trustedProxies = try r.stringList(v, k) },
            "drain_seconds": { r, v, k, c throws(ConfigError) in c.server.drainSeconds = try r.number(v, k) },
            "threads": { r, v, k, c throws(ConfigError) in c.server.threads = try r.int(v, k) },
        ],
        "retention": [
            "max_messages": { r, v, k, c throws(ConfigError) in c.retention.defaults.maxMessages = try r.int(v, k) },
            "max_age_hours": { r, v, k, c throws(ConfigError) in c.retention.defaults.maxAgeHours = try r.number(v, k) },
            "interval_seconds": { r, v, k, c throws(ConfigError) in c.retention.intervalSeconds = try r.number(v, k) },
            "audit_max_age_hours": { r, v, k, c throws(ConfigError) in c.retention.auditMaxAgeHours = try r.number(v, k) },
            "rooms": { r, v, k, c throws(ConfigError) in c.retention.rooms = try r.retentionRooms(v, k) },
        ],
        "moderation": [
            "author_delete_seconds": { r, v, k, c throws(ConfigError) in c.moderation.authorDeleteSeconds = try r.number(v, k) },
        ],
        "control": [
            "socket": { r, v, k, c throws(ConfigError) in c.control.socket = try r.string(v, k) },
            "allowed_uids": { r, v, k, c throws(ConfigError) in c.control.allowedUIDs = try r.intList(v, k) },
            "allowed_groups": { r, v, k, c throws(ConfigError) in c.control.allowedGroups = try r.stringList(v, k) },
        ],
        "metrics": [
            "listen": { r, v, k, c throws(ConfigError) in
                let text = try r.string(v, k)
                if text.isEmpty {
                    c.metrics.listen = nil
                } else {
                    guard let address = ListenAddress.parse(text) else {
                        throw r.error(.invalidValue, k, "\"\(text)\" is not host:port with a port 0...65535, or \"\" to disable")
                    }
                    c.metrics.listen = address
                }
            },
        ],
        "auth": [
            "tokens": { r, v, k, c throws(ConfigError) in c.auth.tokens = try r.stringList(v, k) },
            "moderator_tokens": { r, v, k, c throws(ConfigError) in c.auth.moderatorTokens = try r.stringList(v, k) },
            "allowed_origins": { r, v, k, c throws(ConfigError) in c.auth.allowedOrigins = try r.stringList(v, k) },
            "credentials": { r, v, k, c throws(ConfigError) in c.auth.credentials = try r.credentials(v, k) },
            "jwt": { r, v, k, c throws(ConfigError) in c.auth.jwt = try r.jwt(v, k) },
        ],
        "api": [
            "keys": { r, v, k, c throws(ConfigError) in c.api.keys = try r.apiKeys(v, k) },
            "max_body_bytes": { r, v, k, c throws(ConfigError) in c.api.maxBodyBytes = try r.int(v, k) },
        ],
        "limits": [
            "max_message_chars": { r, v, k, c throws(ConfigError) in c.limits.maxMessageChars = try r.int(v, k) },
            "max_frame_bytes": { r, v, k, c throws(ConfigError) in c.limits.maxFrameBytes = try r.int(v, k) },
            "max_fragments": { r, v, k, c throws(ConfigError) in c.limits.maxFragments = try r.int(v, k) },
            "rate_messages": { r, v, k, c throws(ConfigError) in c.limits.rateMessages = try r.int(v, k) },
            "user_rate_messages": { r, v, k, c throws(ConfigError) in c.limits.userRateMessages = try r.int(v, k) },
            "ip_rate_messages": { r, v, k, c throws(ConfigError) in c.limits.ipRateMessages = try r.int(v, k) },
            "max_connections_per_ip": { r, v, k, c throws(ConfigError) in c.limits.maxConnectionsPerIP = try r.int(v, k) },
            "upgrades_per_minute_per_ip": { r, v, k, c throws(ConfigError) in c.limits.upgradesPerMinutePerIP = try r.int(v, k) },
            "max_connections": { r, v, k, c throws(ConfigError) in c.limits.maxConnections = try r.int(v, k) },
            "handshake_timeout_seconds": { r, v, k, c throws(ConfigError) in c.limits.handshakeTimeoutSeconds = try r.number(v, k) },
            "max_header_bytes": { r, v, k, c throws(ConfigError) in c.limits.maxHeaderBytes = try r.int(v, k) },
            "max_headers": { r, v, k, c throws(ConfigError) in c.limits.maxHeaders = try r.int(v, k) },
            "max_rooms_per_connection": { r, v, k, c throws(ConfigError) in c.limits.maxRoomsPerConnection = try r.int(v, k) },
            "send_buffer_bytes": { r, v, k, c throws(ConfigError) in c.limits.sendBufferBytes = try r.int(v, k) },
            "send_queue_frames": { r, v, k, c throws(ConfigError) in c.limits.sendQueueFrames = try r.int(v, k) },
            "rate_window_seconds": { r, v, k, c throws(ConfigError) in c.limits.rateWindowSeconds = try r.number(v, k) },
            "max_rooms": { r, v, k, c throws(ConfigError) in c.limits.maxRooms = try r.int(v, k) },
            "max_pending_connections": { r, v, k, c throws(ConfigError) in c.limits.maxPendingConnections = try r.int(v, k) },
            "max_pending_per_ip": { r, v, k, c throws(ConfigError) in c.limits.maxPendingPerIP = try r.int(v, k) },
            "ipv6_prefix_length": { r, v, k, c throws(ConfigError) in c.limits.ipv6PrefixLength = try r.int(v, k) },
        ],
        "heartbeat": [
            "ping_interval_seconds": { r, v, k, c throws(ConfigError) in c.heartbeat.pingIntervalSeconds = try r.number(v, k) },
        ],
        "history": [
            "window": { r, v, k, c throws(ConfigError) in c.history.window = try r.int(v, k) },
            "path": { r, v, k, c throws(ConfigError) in c.history.path = try r.string(v, k) },
            "synchronous": { r, v, k, c throws(ConfigError) in c.history.synchronous = try r.string(v, k) },
            "resume_limit": { r, v, k, c throws(ConfigError) in c.history.resumeLimit = try r.int(v, k) },
        ],
        "rooms": [
            "default": { r, v, k, c throws(ConfigError) in c.rooms.defaultRoom = try r.string(v, k) },
            "rules": { r, v, k, c throws(ConfigError) in c.rooms.rules = try r.roomRules(v, k) },
        ],
        "cluster": [
            "database_url": { r, v, k, c throws(ConfigError) in c.cluster.databaseURL = try r.string(v, k) },
            "node_id": { r, v, k, c throws(ConfigError) in c.cluster.nodeID = try r.string(v, k) },
            "heartbeat_seconds": { r, v, k, c throws(ConfigError) in c.cluster.heartbeatSeconds = try r.number(v, k) },
            "node_timeout_seconds": { r, v, k, c throws(ConfigError) in c.cluster.nodeTimeoutSeconds = try r.number(v, k) },
        ],
        "log": [
            "level": { r, v, k, c throws(ConfigError) in c.log.level = try r.string(v, k) },
        ],
    ]

    mutating func read(_ table: TOMLTable, into config: inout Config) throws(ConfigError) {
        for (section, value) in table.sorted(by: { $0.0 < $1.0 }) {
            guard let fields = Self.schema[section] else {
                throw error(.unknownKey, section, "unknown section; known sections: \(Self.schema.keys.sorted().joined(separator: ", "))")
            }
            guard let sub = value.table else {
                throw error(.wrongType, section, "must be a table ([\(section)]), got \(value.type)")
            }
            for (name, item) in sub.sorted(by: { $0.0 < $1.0 }) {
                let key = "\(section).\(name)"
                guard let apply = fields[name] else {
                    throw error(.unknownKey, key, "unknown key; known keys in [\(section)]: \(fields.keys.sorted().joined(separator: ", "))")
                }
                try apply(&self, item, key, &config)
            }
        }
    }

    func error(_ kind: ConfigError.Kind, _ key: String, _ message: String) -> ConfigError {
        ConfigError(kind: kind, file: file, line: lines.line(of: key), key: key, message: message)
    }

    func int(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Int {
        guard let n = v.int else { throw error(.wrongType, key, "must be an integer, got \(v.type)") }
        return n
    }

    func number(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Double {
        if let n = v.int { return Double(n) }
        guard let d = v.double else { throw error(.wrongType, key, "must be a number, got \(v.type)") }
        return d
    }

    func bool(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Bool {
        guard let b = v.bool else { throw error(.wrongType, key, "must be true or false, got \(v.type)") }
        return b
    }

    func string(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> String {
        guard let s = v.string else { throw error(.wrongType, key, "must be a string, got \(v.type)") }
        return s
    }

    func stringList(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String] {
        try list(v, key, of: "strings") { $0.string }
    }

    /// `[retention.rooms.NAME]` tables: `max_messages` and `max_age_hours` each.
    func retentionRooms(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: Config.Retention.Policy] {
        try namedTables(v, key, what: "room", valid: Sanitize.isValidRoom, initial: Config.Retention.Policy()) { (policy: inout Config.Retention.Policy, name, item, k) throws(ConfigError) in
            switch name {
            case "max_messages": policy.maxMessages = try int(item, k)
            case "max_age_hours": policy.maxAgeHours = try number(item, k)
            default: throw error(.unknownKey, k, "unknown key; known keys: max_age_hours, max_messages")
            }
        }
    }

    /// `[auth.credentials.NAME]` tables: `token_sha256`, `role`, `rooms`, `guest_names`.
    func credentials(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: Config.Credential] {
        try namedTables(v, key, what: "name", valid: Sanitize.isValidName, initial: Config.Credential()) { (c: inout Config.Credential, name, item, k) throws(ConfigError) in
            switch name {
            case "token_sha256": c.tokenSHA256 = try string(item, k)
            case "role": c.role = try oneOf(item, k, Role.self)
            case "rooms": c.rooms = try stringList(item, k)
            case "guest_names": c.guestNames = try bool(item, k)
            default: throw error(.unknownKey, k, "unknown key; known keys: guest_names, role, rooms, token_sha256")
            }
        }
    }

    /// `[api.keys.NAME]` tables: `key_sha256`, `rooms`.
    func apiKeys(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: Config.APIKey] {
        try namedTables(v, key, what: "name", valid: Sanitize.isValidName, initial: Config.APIKey()) { (c: inout Config.APIKey, name, item, k) throws(ConfigError) in
            switch name {
            case "key_sha256": c.keySHA256 = try string(item, k)
            case "rooms": c.rooms = try stringList(item, k)
            default: throw error(.unknownKey, k, "unknown key; known keys: key_sha256, rooms")
            }
        }
    }

    /// `[rooms.rules.PATTERN]` tables: `join`, `send`, `max_members`.
    func roomRules(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: RoomRule] {
        try namedTables(v, key, what: "room or pattern", valid: RoomPatterns.isValid, initial: RoomRule()) { (rule: inout RoomRule, name, item, k) throws(ConfigError) in
            switch name {
            case "join": rule.join = try oneOf(item, k, RoomRule.Join.self)
            case "send": rule.send = try oneOf(item, k, RoomRule.Send.self)
            case "max_members": rule.maxMembers = try int(item, k)
            case "slow_consumer": rule.slowConsumer = try oneOf(item, k, RoomRule.SlowConsumer.self)
            default: throw error(.unknownKey, k, "unknown key; known keys: join, max_members, send, slow_consumer")
            }
        }
    }

    /// The `[auth.jwt]` table.
    func jwt(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Config.JWT {
        guard let table = v.table else { throw error(.wrongType, key, "must be a table ([\(key)]), got \(v.type)") }
        var jwt = Config.JWT()
        for (name, item) in table.sorted(by: { $0.0 < $1.0 }) {
            let k = "\(key).\(name)"
            switch name {
            case "algorithm": jwt.algorithm = try string(item, k)
            case "key_file": jwt.keyFile = try string(item, k)
            case "issuer": jwt.issuer = try string(item, k)
            case "audience": jwt.audience = try string(item, k)
            case "leeway_seconds": jwt.leewaySeconds = try number(item, k)
            case "guest_names": jwt.guestNames = try bool(item, k)
            default: throw error(.unknownKey, k, "unknown key; known keys: algorithm, audience, guest_names, issuer, key_file, leeway_seconds")
            }
        }
        return jwt
    }

    /// A table of tables keyed by a name `valid` accepts, each read field by field into a
    /// copy of `initial` (the defaults).
    private func namedTables<T>(
        _ v: any TOMLValueConvertible, _ key: String, what: String, valid: (String) -> Bool, initial: T,
        _ field: (inout T, String, any TOMLValueConvertible, String) throws(ConfigError) -> Void
    ) throws(ConfigError) -> [String: T] {
        guard let table = v.table else { throw error(.wrongType, key, "must be a table of tables ([\(key).NAME]), got \(v.type)") }
        var out: [String: T] = [:]
        for (entry, value) in table.sorted(by: { $0.0 < $1.0 }) {
            let entryKey = "\(key).\(entry)"
            guard valid(entry) else { throw error(.invalidValue, entryKey, "\"\(entry)\" is not a valid \(what)") }
            guard let fields = value.table else { throw error(.wrongType, entryKey, "must be a table, got \(value.type)") }
            var item = initial
            for (name, element) in fields.sorted(by: { $0.0 < $1.0 }) {
                try field(&item, name, element, "\(entryKey).\(name)")
            }
            out[entry] = item
        }
        return out
    }

    /// A string that must be one of an enumeration's raw values.
    func oneOf<E: RawRepresentable & CaseIterable>(_ v: any TOMLValueConvertible, _ key: String, _: E.Type) throws(ConfigError) -> E
    where E.RawValue == String {
        let text = try string(v, key)
        guard let value = E(rawValue: text) else {
            throw error(.invalidValue, key, "must be one of \(E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(text)\"")
        }
        return value
    }

    func intList(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [Int] {
        try list(v, key, of: "integers") { $0.int }
    }

    /// An array whose every element `element` can read; `kind` names them in errors.
    private func list<T>(_ v: any TOMLValueConvertible, _ key: String, of kind: String,
                         _ element: (any TOMLValueConvertible) -> T?) throws(ConfigError) -> [T] {
        guard let array = v.array else { throw error(.wrongType, key, "must be an array of \(kind), got \(v.type)") }
        var out: [T] = []
        for item in array {
            guard let value = element(item) else {
                throw error(.wrongType, key, "must be an array of \(kind), found an element of type \(item.type)")
            }
            out.append(value)
        }
        return out
    }

    /// One `"host:port"` string or an array of them.
    func listenList(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [ListenAddress] {
        let texts: [String]
        if let single = v.string { texts = [single] } else { texts = try stringList(v, key) }
        var out: [ListenAddress] = []
        for text in texts {
            guard let address = ListenAddress.parse(text) else {
                throw error(.invalidValue, key, "\"\(text)\" is not host:port with a port 0...65535 (IPv6 as [::1]:8080)")
            }
            out.append(address)
        }
        return out
    }
}

/// The configuration keys chatd knows, as `section.key`; the docs tests check the example
/// config and the man page against this list.
public enum ConfigSchema {
    public static var keys: [String] {
        TableReader.schema.flatMap { section, fields in fields.keys.map { "\(section).\($0)" } }.sorted()
    }
}
