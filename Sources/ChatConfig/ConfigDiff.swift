/// What a reload changes: the keys whose values differ, split into those applied at once
/// and those that need a restart (addresses and sockets chatd has already bound).
public struct ConfigDiff: Sendable, Equatable {
    public var applied: [String]
    public var needsRestart: [String]

    public var isEmpty: Bool { applied.isEmpty && needsRestart.isEmpty }

    /// Keys that take effect only when chatd restarts: bound addresses and sockets, the
    /// history store, the event loops, the cluster link and the logging backend. The one list:
    /// the diff classifies by it and `Config.keepingRestartOnlyKeys(from:)` copies by it.
    static let restartOnly: [(key: String, keep: @Sendable (inout Config, Config) -> Void)] = [
        ("server.listen", { $0.server.listen = $1.server.listen }),
        ("server.threads", { $0.server.threads = $1.server.threads }),
        ("metrics.listen", { $0.metrics.listen = $1.metrics.listen }),
        ("control.socket", { $0.control.socket = $1.control.socket }),
        ("log.level", { $0.log.level = $1.log.level }),
        ("history.path", { $0.history.path = $1.history.path }),
        ("history.synchronous", { $0.history.synchronous = $1.history.synchronous }),
        ("cluster.database_url", { $0.cluster.databaseURL = $1.cluster.databaseURL }),
        ("cluster.node_id", { $0.cluster.nodeID = $1.cluster.nodeID }),
        ("cluster.heartbeat_seconds", { $0.cluster.heartbeatSeconds = $1.cluster.heartbeatSeconds }),
        ("cluster.node_timeout_seconds", { $0.cluster.nodeTimeoutSeconds = $1.cluster.nodeTimeoutSeconds }),
    ]

    public static let restartKeys: Set<String> = Set(restartOnly.map(\.key))

    private static let fields: [(String, @Sendable (Config) -> String)] = [
        ("server.listen", { "\($0.server.listen)" }),
        ("server.web_root", { "\($0.server.webRoot ?? "")" }),
        ("server.echo_endpoint", { "\($0.server.echoEndpoint)" }),
        ("server.trusted_proxies", { "\($0.server.trustedProxies)" }),
        ("server.drain_seconds", { "\($0.server.drainSeconds)" }),
        ("server.threads", { "\($0.server.threads)" }),
        ("auth.tokens", { "\($0.auth.tokens)" }),
        ("auth.moderator_tokens", { "\($0.auth.moderatorTokens)" }),
        ("auth.credentials", { "\($0.auth.credentials.sorted { $0.key < $1.key })" }),
        ("auth.jwt", { "\(String(describing: $0.auth.jwt))" }),
        ("rooms.rules", { "\($0.rooms.rules.sorted { $0.key < $1.key })" }),
        ("limits.max_rooms_per_connection", { "\($0.limits.maxRoomsPerConnection)" }),
        ("api.keys", { "\($0.api.keys.sorted { $0.key < $1.key })" }),
        ("api.max_body_bytes", { "\($0.api.maxBodyBytes)" }),
        ("limits.send_buffer_bytes", { "\($0.limits.sendBufferBytes)" }),
        ("limits.send_queue_frames", { "\($0.limits.sendQueueFrames)" }),
        ("retention.max_messages", { "\($0.retention.defaults.maxMessages)" }),
        ("retention.max_age_hours", { "\($0.retention.defaults.maxAgeHours)" }),
        ("retention.interval_seconds", { "\($0.retention.intervalSeconds)" }),
        ("retention.audit_max_age_hours", { "\($0.retention.auditMaxAgeHours)" }),
        ("retention.rooms", { "\($0.retention.rooms.sorted { $0.key < $1.key })" }),
        ("moderation.author_delete_seconds", { "\($0.moderation.authorDeleteSeconds)" }),
        ("auth.allowed_origins", { "\($0.effectiveOrigins)" }),
        ("limits.max_message_chars", { "\($0.limits.maxMessageChars)" }),
        ("limits.max_frame_bytes", { "\($0.limits.maxFrameBytes)" }),
        ("limits.max_fragments", { "\($0.limits.maxFragments)" }),
        ("limits.user_rate_messages", { "\($0.limits.userRateMessages)" }),
        ("limits.ip_rate_messages", { "\($0.limits.ipRateMessages)" }),
        ("limits.max_connections_per_ip", { "\($0.limits.maxConnectionsPerIP)" }),
        ("limits.upgrades_per_minute_per_ip", { "\($0.limits.upgradesPerMinutePerIP)" }),
        ("limits.max_connections", { "\($0.limits.maxConnections)" }),
        ("limits.handshake_timeout_seconds", { "\($0.limits.handshakeTimeoutSeconds)" }),
        ("limits.max_header_bytes", { "\($0.limits.maxHeaderBytes)" }),
        ("limits.max_headers", { "\($0.limits.maxHeaders)" }),
        ("limits.rate_messages", { "\($0.limits.rateMessages)" }),
        ("limits.rate_window_seconds", { "\($0.limits.rateWindowSeconds)" }),
        ("limits.max_rooms", { "\($0.limits.maxRooms)" }),
        ("limits.max_pending_connections", { "\($0.limits.maxPendingConnections)" }),
        ("limits.max_pending_per_ip", { "\($0.limits.maxPendingPerIP)" }),
        ("limits.ipv6_prefix_length", { "\($0.limits.ipv6PrefixLength)" }),
        ("heartbeat.ping_interval_seconds", { "\($0.heartbeat.pingIntervalSeconds)" }),
        ("history.window", { "\($0.history.window)" }),
        ("history.path", { "\($0.history.path)" }),
        ("history.synchronous", { "\($0.history.synchronous)" }),
        ("history.resume_limit", { "\($0.history.resumeLimit)" }),
        ("cluster.database_url", { PostgresURL($0.cluster.databaseURL)?.redacted ?? $0.cluster.databaseURL }),
        ("cluster.node_id", { "\($0.cluster.nodeID)" }),
        ("cluster.heartbeat_seconds", { "\($0.cluster.heartbeatSeconds)" }),
        ("cluster.node_timeout_seconds", { "\($0.cluster.nodeTimeoutSeconds)" }),
        ("rooms.default", { "\($0.rooms.defaultRoom)" }),
        ("log.level", { "\($0.log.level)" }),
        ("control.socket", { "\($0.control.socket)" }),
        ("control.allowed_uids", { "\($0.control.allowedUIDs)" }),
        ("control.allowed_groups", { "\($0.control.allowedGroups)" }),
        ("metrics.listen", { "\($0.metrics.listen.map { "\($0)" } ?? "")" }),
    ]

    /// Every key the diff knows, for the test that keeps it in step with the schema.
    public static var keys: [String] { fields.map(\.0).sorted() }

    public static func between(_ old: Config, _ new: Config) -> ConfigDiff {
        var diff = ConfigDiff(applied: [], needsRestart: [])
        for (key, value) in fields where value(old) != value(new) {
            if restartKeys.contains(key) {
                diff.needsRestart.append(key)
            } else {
                diff.applied.append(key)
            }
        }
        return diff
    }
}

extension Config {
    /// This configuration as it runs after a reload from `running`: every restart-only key
    /// (`ConfigDiff.restartKeys`) keeps its running value, so that status shows what is in
    /// force and the next reload's diff is measured against it.
    public func keepingRestartOnlyKeys(from running: Config) -> Config {
        var effective = self
        for entry in ConfigDiff.restartOnly { entry.keep(&effective, running) }
        return effective
    }
}
