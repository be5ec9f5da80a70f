/// One numeric configuration key and the values it may take. `NumericKeys.all` is the one
/// list: `Validation` checks every key against it, chatd.toml(5) documents the same ranges,
/// and the config-extremes tests walk it. A range's bounds are chosen so that no value inside
/// can overflow a conversion downstream (seconds to nanoseconds in Int64, hours to
/// milliseconds, counts into Int arithmetic).
public struct NumericKey: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A TOML integer; a float is a type error.
        case integer
        /// A TOML integer or float, finite.
        case number
    }

    /// A value as read: integers stay integers so that errors print them as written.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case integer(Int)
        case number(Double)

        public var description: String {
            switch self {
            case let .integer(n): "\(n)"
            case let .number(d): d == d.rounded() && abs(d) < 1e15 ? "\(Int(d))" : "\(d)"
            }
        }
    }

    /// `section.key`; in named tables NAME or PATTERN stands for the entry
    /// (`retention.rooms.NAME.max_messages`); an array key is checked element by element.
    public let key: String
    public let kind: Kind
    public let minimum: Double
    public let maximum: Double
    /// "seconds", "hours", "bytes", or "" for plain counts.
    public let unit: String
    /// TOML lines set beside the key when a test sets it alone, for keys whose valid values
    /// depend on a neighbour (`cluster.node_timeout_seconds` ≥ 2 × `heartbeat_seconds`) or
    /// that need one (`auth.jwt` needs a key file).
    public let companions: [String]
    /// The key's values in a config, each under the key it has in the file.
    let values: @Sendable (Config) -> [(key: String, value: Value)]

    init(_ key: String, _ kind: Kind, _ minimum: Double, _ maximum: Double, _ unit: String = "",
         companions: [String] = [], values: @escaping @Sendable (Config) -> [(key: String, value: Value)]) {
        self.key = key
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.unit = unit
        self.companions = companions
        self.values = values
    }

    /// Whether `value` is allowed; NaN and infinities never are.
    public func accepts(_ value: Value) -> Bool {
        switch value {
        case let .integer(n):
            // Bounds are small whole numbers, exact as Int; comparing as Int avoids rounding.
            return n >= Int(minimum) && n <= Int(maximum)
        case let .number(d):
            return d.isFinite && d >= minimum && d <= maximum
        }
    }

    /// The range as chatd.toml(5) and errors write it: `0...3600 seconds`.
    public var rangeText: String {
        let text = "\(Value.number(minimum))...\(Value.number(maximum))"
        return unit.isEmpty ? text : "\(text) \(unit)"
    }

    /// The TOML section holding the key (`rooms.rules."*"` for a PATTERN, `retention.rooms.r`
    /// for a NAME), and the key's name in it.
    public var tomlLocation: (section: String, name: String) {
        var parts = key.split(separator: ".").map(String.init)
        let name = parts.removeLast()
        let section = parts.map { part in
            switch part {
            case "PATTERN": "\"*\""
            case "NAME": "r"
            default: part
            }
        }.joined(separator: ".")
        return (section, name)
    }

    /// A config file that sets only this key to `literal` (a TOML value, e.g. `1e10`),
    /// with its companions; an array key gets a one-element array.
    public func toml(_ literal: String) -> String {
        let (section, name) = tomlLocation
        let value = key == "control.allowed_uids" ? "[\(literal)]" : literal
        return (["[\(section)]"] + companions + ["\(name) = \(value)"]).joined(separator: "\n") + "\n"
    }
}

public enum NumericKeys {
    private static func int(_ key: String, _ min: Double, _ max: Double, _ unit: String = "",
                            _ read: @escaping @Sendable (Config) -> Int) -> NumericKey {
        NumericKey(key, .integer, min, max, unit) { [(key, .integer(read($0)))] }
    }

    private static func number(_ key: String, _ min: Double, _ max: Double, _ unit: String,
                               companions: [String] = [], _ read: @escaping @Sendable (Config) -> Double) -> NumericKey {
        NumericKey(key, .number, min, max, unit, companions: companions) { [(key, .number(read($0)))] }
    }

    /// Every numeric key, in the order of etc/chatd.toml.
    public static let all: [NumericKey] = [
        number("server.drain_seconds", 0, 3600, "seconds") { $0.server.drainSeconds },
        int("server.threads", 0, 256) { $0.server.threads },
        NumericKey("auth.jwt.leeway_seconds", .number, 0, 3600, "seconds",
                   companions: ["algorithm = \"HS256\"", "key_file = \"jwt.secret\""]) { c in
            c.auth.jwt.map { [("auth.jwt.leeway_seconds", .number($0.leewaySeconds))] } ?? []
        },
        int("limits.max_message_chars", 1, 16_777_216) { $0.limits.maxMessageChars },
        int("limits.max_frame_bytes", 64, 16_777_216, "bytes") { $0.limits.maxFrameBytes },
        int("limits.max_fragments", 1, 1_000_000) { $0.limits.maxFragments },
        int("limits.rate_messages", 1, 1_000_000_000) { $0.limits.rateMessages },
        number("limits.rate_window_seconds", 0.1, 86400, "seconds") { $0.limits.rateWindowSeconds },
        int("limits.user_rate_messages", 1, 1_000_000_000) { $0.limits.userRateMessages },
        int("limits.ip_rate_messages", 1, 1_000_000_000) { $0.limits.ipRateMessages },
        int("limits.max_connections_per_ip", 1, 10_000_000) { $0.limits.maxConnectionsPerIP },
        int("limits.upgrades_per_minute_per_ip", 1, 1_000_000_000) { $0.limits.upgradesPerMinutePerIP },
        int("limits.max_connections", 1, 10_000_000) { $0.limits.maxConnections },
        number("limits.handshake_timeout_seconds", 0.1, 3600, "seconds") { $0.limits.handshakeTimeoutSeconds },
        int("limits.max_header_bytes", 512, 1_048_576, "bytes") { $0.limits.maxHeaderBytes },
        int("limits.max_headers", 8, 10_000) { $0.limits.maxHeaders },
        int("limits.max_rooms_per_connection", 1, 10_000) { $0.limits.maxRoomsPerConnection },
        int("limits.send_buffer_bytes", 4096, 67_108_864, "bytes") { $0.limits.sendBufferBytes },
        int("limits.send_queue_frames", 1, 1_000_000) { $0.limits.sendQueueFrames },
        int("limits.max_rooms", 1, 10_000_000) { $0.limits.maxRooms },
        int("limits.max_pending_connections", 1, 1_000_000) { $0.limits.maxPendingConnections },
        int("limits.max_pending_per_ip", 1, 1_000_000) { $0.limits.maxPendingPerIP },
        int("limits.ipv6_prefix_length", 32, 128) { $0.limits.ipv6PrefixLength },
        number("heartbeat.ping_interval_seconds", 0.1, 86400, "seconds") { $0.heartbeat.pingIntervalSeconds },
        int("history.window", 0, 10_000) { $0.history.window },
        int("history.resume_limit", 0, 1_000_000) { $0.history.resumeLimit },
        NumericKey("rooms.rules.PATTERN.max_members", .integer, 0, 10_000_000) { c in
            c.rooms.rules.sorted { $0.key < $1.key }.map { ("rooms.rules.\($0.key).max_members", .integer($0.value.maxMembers)) }
        },
        int("api.max_body_bytes", 256, 16_777_216, "bytes") { $0.api.maxBodyBytes },
        int("retention.max_messages", 0, 1_000_000_000) { $0.retention.defaults.maxMessages },
        number("retention.max_age_hours", 0, 876_000, "hours") { $0.retention.defaults.maxAgeHours },
        number("retention.interval_seconds", 0.05, 86400, "seconds") { $0.retention.intervalSeconds },
        number("retention.audit_max_age_hours", 0, 876_000, "hours") { $0.retention.auditMaxAgeHours },
        NumericKey("retention.rooms.NAME.max_messages", .integer, 0, 1_000_000_000) { c in
            c.retention.rooms.sorted { $0.key < $1.key }.map { ("retention.rooms.\($0.key).max_messages", .integer($0.value.maxMessages)) }
        },
        NumericKey("retention.rooms.NAME.max_age_hours", .number, 0, 876_000, "hours") { c in
            c.retention.rooms.sorted { $0.key < $1.key }.map { ("retention.rooms.\($0.key).max_age_hours", .number($0.value.maxAgeHours)) }
        },
        number("moderation.author_delete_seconds", 0, 604_800, "seconds") { $0.moderation.authorDeleteSeconds },
        NumericKey("control.allowed_uids", .integer, 0, 4_294_967_294) { c in
            c.control.allowedUIDs.map { ("control.allowed_uids", .integer($0)) }
        },
        // Restart-only; checked even on a single node so that adding a database later cannot
        // turn a silently accepted file into a failing one.
        number("cluster.heartbeat_seconds", 0.1, 3600, "seconds",
               companions: ["node_timeout_seconds = 7200"]) { $0.cluster.heartbeatSeconds },
        number("cluster.node_timeout_seconds", 0.2, 86400, "seconds",
               companions: ["heartbeat_seconds = 0.1"]) { $0.cluster.nodeTimeoutSeconds },
    ]

    /// The entry for `key` as written in the list (with NAME/PATTERN).
    public static func named(_ key: String) -> NumericKey? { all.first { $0.key == key } }
}
