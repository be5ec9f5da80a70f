import ChatCore
import TOMLKit

/// Every configuration key chatd knows, each declared once: the reader, the numeric ranges
/// (`NumericKeys`), the reload diff (`ConfigDiff`) and the docs tests all derive from this
/// list. Defaults are `Config()`'s; the order is etc/chatd.toml's.
public enum ConfigKeys {
    public static let all: [ConfigKey] = [
        .field("server.listen", \.server.listen, .restart, TableReader.listenList),
        .field("server.web_root", \.server.webRoot, .nextUse, TableReader.string),
        .field("server.echo_endpoint", \.server.echoEndpoint, .newConnections, TableReader.bool),
        .field("server.trusted_proxies", \.server.trustedProxies, .newConnections, TableReader.stringList),
        .numeric("server.drain_seconds", \.server.drainSeconds, .nextUse, 0...3600, "seconds"),
        .numeric("server.threads", \.server.threads, .restart, 0...256),

        .field("auth.tokens", \.auth.tokens, .openConnections, TableReader.stringList),
        .field("auth.moderator_tokens", \.auth.moderatorTokens, .openConnections, TableReader.stringList),
        // Compared as the origins in force, which follow the first listen port while unset.
        .field("auth.allowed_origins", \.auth.allowedOrigins, .newConnections, TableReader.stringList) { "\($0.effectiveOrigins)" },
        .table("auth.credentials", \.auth.credentials, .openConnections, TableReader.credentials),
        .field(
            "auth.jwt", \.auth.jwt, .openConnections, TableReader.jwt,
            numeric: [
                NumericKey(
                    "auth.jwt.leeway_seconds", .number, 0...3600, "seconds",
                    companions: ["algorithm = \"HS256\"", "key_file = \"jwt.secret\""]
                ) { c in
                    c.auth.jwt.map { [("auth.jwt.leeway_seconds", .number($0.leewaySeconds))] } ?? []
                },
                NumericKey(
                    "auth.jwt.refresh_ahead_seconds", .number, 0...86400, "seconds",
                    companions: ["algorithm = \"HS256\"", "key_file = \"jwt.secret\""]
                ) { c in
                    c.auth.jwt.map { [("auth.jwt.refresh_ahead_seconds", .number($0.refreshAheadSeconds))] } ?? []
                },
            ]),

        .numeric("limits.max_message_chars", \.limits.maxMessageChars, .openConnections, 1...16_777_216),
        // Open connections take it at once: their next frame's head is checked against it.
        .numeric("limits.max_frame_bytes", \.limits.maxFrameBytes, .openConnections, 64...16_777_216, "bytes"),
        .numeric("limits.max_fragments", \.limits.maxFragments, .openConnections, 1...1_000_000),
        .numeric("limits.rate_messages", \.limits.rateMessages, .openConnections, 1...1_000_000_000),
        .numeric("limits.rate_window_seconds", \.limits.rateWindowSeconds, .openConnections, 0.1...86400, "seconds"),
        .numeric("limits.user_rate_messages", \.limits.userRateMessages, .openConnections, 1...1_000_000_000),
        .numeric("limits.ip_rate_messages", \.limits.ipRateMessages, .openConnections, 1...1_000_000_000),
        .numeric("limits.max_connections_per_ip", \.limits.maxConnectionsPerIP, .newConnections, 1...10_000_000),
        .numeric("limits.upgrades_per_minute_per_ip", \.limits.upgradesPerMinutePerIP, .newConnections, 1...1_000_000_000),
        .numeric("limits.max_connections", \.limits.maxConnections, .newConnections, 1...10_000_000),
        .numeric("limits.handshake_timeout_seconds", \.limits.handshakeTimeoutSeconds, .newConnections, 0.1...3600, "seconds"),
        .numeric("limits.max_header_bytes", \.limits.maxHeaderBytes, .newConnections, 512...1_048_576, "bytes"),
        .numeric("limits.max_headers", \.limits.maxHeaders, .newConnections, 8...10_000),
        .numeric("limits.max_rooms_per_connection", \.limits.maxRoomsPerConnection, .openConnections, 1...10_000),
        .numeric("limits.max_reactions_per_message", \.limits.maxReactionsPerMessage, .openConnections, 1...1000),
        // A reload sets the write-buffer water marks on open channels too.
        .numeric("limits.send_buffer_bytes", \.limits.sendBufferBytes, .openConnections, 4096...67_108_864, "bytes"),
        .numeric("limits.send_queue_frames", \.limits.sendQueueFrames, .openConnections, 1...1_000_000),
        .numeric("limits.max_rooms", \.limits.maxRooms, .nextUse, 1...10_000_000),
        .numeric("limits.max_pending_connections", \.limits.maxPendingConnections, .newConnections, 1...1_000_000),
        .numeric("limits.max_pending_per_ip", \.limits.maxPendingPerIP, .newConnections, 1...1_000_000),
        // The per-address counters are regrouped the next time they are used.
        .numeric("limits.ipv6_prefix_length", \.limits.ipv6PrefixLength, .nextUse, 32...128),

        .numeric("heartbeat.ping_interval_seconds", \.heartbeat.pingIntervalSeconds, .openConnections, 0.1...86400, "seconds"),
        .field("compression.enabled", \.compression.enabled, .newConnections, TableReader.bool),
        .numeric("compression.min_bytes", \.compression.minBytes, .openConnections, 0...16_777_216, "bytes"),
        .numeric("compression.level", \.compression.level, .openConnections, 1...9),

        .numeric("history.window", \.history.window, .nextUse, 0...10_000),
        .field("history.path", \.history.path, .restart, TableReader.string),
        .field("history.synchronous", \.history.synchronous, .restart, TableReader.string),
        .numeric("history.resume_limit", \.history.resumeLimit, .openConnections, 0...1_000_000),

        .field("rooms.default", \.rooms.defaultRoom, .newConnections, TableReader.string),
        .table(
            "rooms.rules", \.rooms.rules, .openConnections, TableReader.roomRules,
            numeric: [
                NumericKey("rooms.rules.PATTERN.max_members", entries: \.rooms.rules, \.maxMembers, 0...10_000_000)
            ]),

        .table("api.keys", \.api.keys, .nextUse, TableReader.apiKeys),
        .numeric("api.max_body_bytes", \.api.maxBodyBytes, .nextUse, 256...16_777_216, "bytes"),

        .field("log.level", \.log.level, .restart, TableReader.string),

        .numeric("retention.max_messages", \.retention.defaults.maxMessages, .nextUse, 0...1_000_000_000),
        .numeric("retention.max_age_hours", \.retention.defaults.maxAgeHours, .nextUse, 0...876_000, "hours"),
        .numeric("retention.interval_seconds", \.retention.intervalSeconds, .nextUse, 0.05...86400, "seconds"),
        .numeric("retention.audit_max_age_hours", \.retention.auditMaxAgeHours, .nextUse, 0...876_000, "hours"),
        .table(
            "retention.rooms", \.retention.rooms, .nextUse, TableReader.retentionRooms,
            numeric: [
                NumericKey("retention.rooms.NAME.max_messages", entries: \.retention.rooms, \.maxMessages, 0...1_000_000_000),
                NumericKey("retention.rooms.NAME.max_age_hours", entries: \.retention.rooms, \.maxAgeHours, 0...876_000, "hours"),
            ]),

        .numeric("moderation.author_delete_seconds", \.moderation.authorDeleteSeconds, .openConnections, 0...604_800, "seconds"),
        .numeric("moderation.author_edit_seconds", \.moderation.authorEditSeconds, .openConnections, 0...604_800, "seconds"),

        .field("control.socket", \.control.socket, .restart, TableReader.string),
        .field(
            "control.allowed_uids", \.control.allowedUIDs, .nextUse, TableReader.intList,
            numeric: [
                NumericKey("control.allowed_uids", .integer, 0...4_294_967_294) { c in
                    c.control.allowedUIDs.map { ("control.allowed_uids", .integer($0)) }
                }
            ]),
        .field("control.allowed_groups", \.control.allowedGroups, .nextUse, TableReader.stringList),

        .field("metrics.listen", \.metrics.listen, .restart, TableReader.listenOrNone),

        // Shown without the password, which must never appear in a diff; so a change of the
        // password alone is not reported.
        .field("cluster.database_url", \.cluster.databaseURL, .restart, TableReader.string) {
            PostgresURL($0.cluster.databaseURL)?.redacted ?? $0.cluster.databaseURL
        },
        .field("cluster.node_id", \.cluster.nodeID, .restart, TableReader.string),
        // Range-checked even on a single node, so that adding a database later cannot turn a
        // silently accepted file into a failing one.
        .numeric(
            "cluster.heartbeat_seconds", \.cluster.heartbeatSeconds, .restart, 0.1...3600, "seconds",
            companions: ["node_timeout_seconds = 7200"]),
        .numeric(
            "cluster.node_timeout_seconds", \.cluster.nodeTimeoutSeconds, .restart, 0.2...86400, "seconds",
            companions: ["heartbeat_seconds = 0.1"]),

        // Sessions it admitted are closed when it is emptied.
        .field("proxy.connect_url", \.proxy.connectURL, .openConnections, TableReader.string),
        .field("proxy.publish_url", \.proxy.publishURL, .openConnections, TableReader.string),
        .field("proxy.forward_headers", \.proxy.forwardHeaders, .newConnections, TableReader.stringList),
        .numeric("proxy.timeout_seconds", \.proxy.timeoutSeconds, .openConnections, 0.1...300, "seconds"),
        .field("proxy.publish_on_error", \.proxy.publishOnError, .openConnections, TableReader.publishOnError),

        // `[webhooks.NAME]`: the whole section is one table of named hooks.
        .table(
            "webhooks.NAME", \.webhooks, .nextUse, TableReader.webhooks,
            numeric: [
                NumericKey(
                    "webhooks.NAME.timeout_seconds", entries: \.webhooks, \.timeoutSeconds, 0.1...300, "seconds",
                    companions: Self.webhookCompanions),
                NumericKey(
                    "webhooks.NAME.max_age_seconds", entries: \.webhooks, \.maxAgeSeconds, 1...2_592_000, "seconds",
                    companions: Self.webhookCompanions),
            ]),
    ]

    /// What a `[webhooks.NAME]` table needs beside the key a test sets.
    static let webhookCompanions = ["url = \"http://127.0.0.1:9/hook\"", "secret_file = \"jwt.secret\""]

    /// The entry for `path` (`section.key`).
    public static func named(_ path: String) -> ConfigKey? { byPath[path] }

    private static let byPath = Dictionary(uniqueKeysWithValues: all.map { ($0.path, $0) })

    /// section -> key name -> entry: what `TableReader` walks the file against.
    static let sections: [String: [String: ConfigKey]] = Dictionary(grouping: all, by: \.section)
        .mapValues { Dictionary(uniqueKeysWithValues: $0.map { ($0.name, $0) }) }
}

/// The configuration keys chatd knows, as `section.key`; the docs tests check the example
/// config and the man page against this list.
public enum ConfigSchema {
    public static var keys: [String] { ConfigKeys.all.map(\.path).sorted() }
}
