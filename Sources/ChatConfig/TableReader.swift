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
        ],
        "retention": [
            "max_messages": { r, v, k, c throws(ConfigError) in c.retention.defaults.maxMessages = try r.int(v, k) },
            "max_age_hours": { r, v, k, c throws(ConfigError) in c.retention.defaults.maxAgeHours = try r.number(v, k) },
            "interval_seconds": { r, v, k, c throws(ConfigError) in c.retention.intervalSeconds = try r.number(v, k) },
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
            "rate_window_seconds": { r, v, k, c throws(ConfigError) in c.limits.rateWindowSeconds = try r.number(v, k) },
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
        guard let table = v.table else { throw error(.wrongType, key, "must be a table of rooms ([retention.rooms.NAME]), got \(v.type)") }
        var out: [String: Config.Retention.Policy] = [:]
        for (room, value) in table.sorted(by: { $0.0 < $1.0 }) {
            let roomKey = "\(key).\(room)"
            guard Sanitize.isValidRoom(room) else { throw error(.invalidValue, roomKey, "\"\(room)\" is not a room name") }
            guard let entries = value.table else { throw error(.wrongType, roomKey, "must be a table, got \(value.type)") }
            var policy = Config.Retention.Policy()
            for (name, item) in entries.sorted(by: { $0.0 < $1.0 }) {
                switch name {
                case "max_messages": policy.maxMessages = try int(item, "\(roomKey).\(name)")
                case "max_age_hours": policy.maxAgeHours = try number(item, "\(roomKey).\(name)")
                default: throw error(.unknownKey, "\(roomKey).\(name)", "unknown key; known keys: max_age_hours, max_messages")
                }
            }
            out[room] = policy
        }
        return out
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
