import ChatCore
/// Range and shape checks on a whole `Config`, after the types are known to be right.
enum Validation {
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    static func check(_ c: Config, file: String, lines: KeyLines) throws(ConfigError) {
        func fail(_ kind: ConfigError.Kind, _ key: String, _ message: String) -> ConfigError {
            ConfigError(kind: kind, file: file, line: lines.line(of: key), key: key, message: message)
        }
        func atLeast(_ value: Int, _ min: Int, _ key: String) throws(ConfigError) {
            if value < min { throw fail(.outOfRange, key, "must be at least \(min), got \(value)") }
        }
        func positive(_ value: Double, _ key: String) throws(ConfigError) {
            if !(value > 0) || !value.isFinite { throw fail(.outOfRange, key, "must be a positive number of seconds, got \(value)") }
        }

        if c.server.listen.isEmpty { throw fail(.invalidValue, "server.listen", "must name at least one address") }
        if let root = c.server.webRoot, root.isEmpty { throw fail(.invalidValue, "server.web_root", "must not be empty") }
        if !(c.server.drainSeconds >= 0) || !c.server.drainSeconds.isFinite || c.server.drainSeconds > 3600 {
            throw fail(.outOfRange, "server.drain_seconds", "must be 0...3600 seconds, got \(c.server.drainSeconds)")
        }
        if c.server.threads < 0 || c.server.threads > 256 {
            throw fail(.outOfRange, "server.threads", "must be 0 (one per core) to 256, got \(c.server.threads)")
        }
        if !c.control.socket.isEmpty, !c.control.socket.hasPrefix("/") {
            throw fail(.invalidValue, "control.socket", "must be an absolute path, or \"\" to disable")
        }
        if c.control.socket.utf8.count > 107 {
            throw fail(.invalidValue, "control.socket", "is longer than a Unix socket path may be (107 bytes)")
        }
        for uid in c.control.allowedUIDs where uid < 0 || uid > Int(UInt32.max) {
            throw fail(.outOfRange, "control.allowed_uids", "\(uid) is not a uid")
        }
        for token in c.auth.moderatorTokens where token.isEmpty {
            throw fail(.invalidValue, "auth.moderator_tokens", "tokens must not be empty strings")
        }
        if !(c.moderation.authorDeleteSeconds >= 0) || !c.moderation.authorDeleteSeconds.isFinite {
            throw fail(.outOfRange, "moderation.author_delete_seconds", "must be 0 or more seconds, got \(c.moderation.authorDeleteSeconds)")
        }
        for (room, policy) in [("", c.retention.defaults)] + c.retention.rooms.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) {
            let prefix = room.isEmpty ? "retention" : "retention.rooms.\(room)"
            try atLeast(policy.maxMessages, 0, "\(prefix).max_messages")
            if !(policy.maxAgeHours >= 0) || !policy.maxAgeHours.isFinite {
                throw fail(.outOfRange, "\(prefix).max_age_hours", "must be 0 or more hours, got \(policy.maxAgeHours)")
            }
        }
        if !(c.retention.intervalSeconds > 0) || !c.retention.intervalSeconds.isFinite {
            throw fail(.outOfRange, "retention.interval_seconds", "must be a positive number of seconds, got \(c.retention.intervalSeconds)")
        }
        for proxy in c.server.trustedProxies where TrustedProxies.Network(proxy) == nil {
            throw fail(.invalidValue, "server.trusted_proxies", "\"\(proxy)\" is not an IP address or CIDR network")
        }
        if c.auth.tokens.isEmpty && c.auth.moderatorTokens.isEmpty && c.auth.credentials.isEmpty && c.auth.jwt == nil {
            throw fail(.invalidValue, "auth.tokens", "no credential is configured: set auth.tokens, [auth.credentials.NAME] or [auth.jwt]")
        }
        for (name, credential) in c.auth.credentials.sorted(by: { $0.key < $1.key }) {
            let key = "auth.credentials.\(name)"
            if !isSHA256Hex(credential.tokenSHA256) {
                throw fail(.invalidValue, "\(key).token_sha256", "must be 64 hex digits, the SHA-256 of the token (printf %s TOKEN | sha256sum)")
            }
            for pattern in credential.rooms where !RoomPatterns.isValid(pattern) {
                throw fail(.invalidValue, "\(key).rooms", "\"\(pattern)\" is neither a room name nor a prefix pattern such as \"team-*\"")
            }
        }
        for (name, apiKey) in c.api.keys.sorted(by: { $0.key < $1.key }) {
            if !isSHA256Hex(apiKey.keySHA256) {
                throw fail(.invalidValue, "api.keys.\(name).key_sha256", "must be 64 hex digits, the SHA-256 of the key (printf %s KEY | sha256sum)")
            }
            for pattern in apiKey.rooms where !RoomPatterns.isValid(pattern) {
                throw fail(.invalidValue, "api.keys.\(name).rooms", "\"\(pattern)\" is neither a room name nor a prefix pattern such as \"dash-*\"")
            }
        }
        try atLeast(c.api.maxBodyBytes, 256, "api.max_body_bytes")
        if c.api.maxBodyBytes > 16 << 20 {
            throw fail(.outOfRange, "api.max_body_bytes", "must be at most \(16 << 20), got \(c.api.maxBodyBytes)")
        }
        let hashes = c.auth.credentials.map { $0.value.tokenSHA256.lowercased() }
        if Set(hashes).count != hashes.count {
            throw fail(.invalidValue, "auth.credentials", "two credentials have the same token_sha256")
        }
        if let jwt = c.auth.jwt {
            if !Config.JWT.algorithms.contains(jwt.algorithm) {
                throw fail(.invalidValue, "auth.jwt.algorithm", "must be one of \(Config.JWT.algorithms.joined(separator: ", ")), got \"\(jwt.algorithm)\"")
            }
            if jwt.keyFile.isEmpty { throw fail(.invalidValue, "auth.jwt.key_file", "must name the secret or public key file") }
            if !(jwt.leewaySeconds >= 0) || jwt.leewaySeconds > 3600 {
                throw fail(.outOfRange, "auth.jwt.leeway_seconds", "must be 0...3600 seconds, got \(jwt.leewaySeconds)")
            }
        }
        for (pattern, rule) in c.rooms.rules.sorted(by: { $0.key < $1.key }) {
            try atLeast(rule.maxMembers, 0, "rooms.rules.\(pattern).max_members")
        }
        for token in c.auth.tokens where token.isEmpty {
            throw fail(.invalidValue, "auth.tokens", "tokens must not be empty strings")
        }
        for origin in c.auth.allowedOrigins ?? [] where !isOrigin(origin) {
            throw fail(.invalidValue, "auth.allowed_origins", "\"\(origin)\" is not an origin (scheme://host[:port], no path)")
        }
        try atLeast(c.limits.maxMessageChars, 1, "limits.max_message_chars")
        try atLeast(c.limits.maxFrameBytes, 64, "limits.max_frame_bytes")
        if c.limits.maxFrameBytes > 16 << 20 {
            throw fail(.outOfRange, "limits.max_frame_bytes", "must be at most \(16 << 20), got \(c.limits.maxFrameBytes)")
        }
        try atLeast(c.limits.maxFragments, 1, "limits.max_fragments")
        try atLeast(c.limits.rateMessages, 1, "limits.rate_messages")
        try atLeast(c.limits.userRateMessages, 1, "limits.user_rate_messages")
        try atLeast(c.limits.ipRateMessages, 1, "limits.ip_rate_messages")
        try atLeast(c.limits.maxConnectionsPerIP, 1, "limits.max_connections_per_ip")
        try atLeast(c.limits.upgradesPerMinutePerIP, 1, "limits.upgrades_per_minute_per_ip")
        try atLeast(c.limits.maxConnections, 1, "limits.max_connections")
        try positive(c.limits.handshakeTimeoutSeconds, "limits.handshake_timeout_seconds")
        try atLeast(c.limits.maxHeaderBytes, 512, "limits.max_header_bytes")
        try atLeast(c.limits.maxHeaders, 8, "limits.max_headers")
        try atLeast(c.limits.maxRoomsPerConnection, 1, "limits.max_rooms_per_connection")
        try atLeast(c.limits.sendBufferBytes, 4096, "limits.send_buffer_bytes")
        try atLeast(c.limits.sendQueueFrames, 1, "limits.send_queue_frames")
        try positive(c.limits.rateWindowSeconds, "limits.rate_window_seconds")
        try positive(c.heartbeat.pingIntervalSeconds, "heartbeat.ping_interval_seconds")
        func within(_ value: Int, _ range: ClosedRange<Int>, _ key: String) throws(ConfigError) {
            if !range.contains(value) { throw fail(.outOfRange, key, "must be \(range.lowerBound)...\(range.upperBound), got \(value)") }
        }
        try within(c.limits.maxRooms, 1...10_000_000, "limits.max_rooms")
        try within(c.limits.maxPendingConnections, 1...1_000_000, "limits.max_pending_connections")
        try within(c.limits.maxPendingPerIP, 1...1_000_000, "limits.max_pending_per_ip")
        try within(c.limits.ipv6PrefixLength, 32...128, "limits.ipv6_prefix_length")
        if !(c.retention.auditMaxAgeHours >= 0) || c.retention.auditMaxAgeHours > 876_000 {
            throw fail(.outOfRange, "retention.audit_max_age_hours", "must be 0...876000 hours, got \(c.retention.auditMaxAgeHours)")
        }
        try atLeast(c.history.window, 0, "history.window")
        if c.history.window > 10_000 {
            throw fail(.outOfRange, "history.window", "must be at most 10000, got \(c.history.window)")
        }
        if !["normal", "full"].contains(c.history.synchronous) {
            throw fail(.invalidValue, "history.synchronous", "must be \"normal\" or \"full\", got \"\(c.history.synchronous)\"")
        }
        try atLeast(c.history.resumeLimit, 0, "history.resume_limit")
        if c.cluster.isEnabled, c.cluster.database == nil {
            throw fail(.invalidValue, "cluster.database_url",
                       "must be postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]")
        }
        if !c.cluster.nodeID.isEmpty, !Sanitize.isValidRoom(c.cluster.nodeID) {
            throw fail(.invalidValue, "cluster.node_id", "\"\(c.cluster.nodeID)\" is not a node name (1-32 of a-z A-Z 0-9 _ -)")
        }
        try positive(c.cluster.heartbeatSeconds, "cluster.heartbeat_seconds")
        if !(c.cluster.nodeTimeoutSeconds >= 2 * c.cluster.heartbeatSeconds) || !c.cluster.nodeTimeoutSeconds.isFinite {
            throw fail(.outOfRange, "cluster.node_timeout_seconds",
                       "must be at least twice cluster.heartbeat_seconds (\(c.cluster.heartbeatSeconds)), got \(c.cluster.nodeTimeoutSeconds)")
        }
        if !Sanitize.isValidRoom(c.rooms.defaultRoom) {
            throw fail(.invalidValue, "rooms.default", "\"\(c.rooms.defaultRoom)\" is not a room name (1-32 of a-z A-Z 0-9 _ -)")
        }
        if !logLevels.contains(c.log.level) {
            throw fail(.invalidValue, "log.level", "must be one of \(logLevels.joined(separator: ", ")), got \"\(c.log.level)\"")
        }
    }

    static func isSHA256Hex(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) }
    }

    /// `http(s)://host[:port]` exactly as a browser sends it in `Origin`: lowercase scheme,
    /// a host, an optional port, and no path, query or trailing slash.
    static func isOrigin(_ s: String) -> Bool {
        let schemes = ["http://", "https://"]
        guard let scheme = schemes.first(where: { s.hasPrefix($0) }) else { return false }
        let rest = s.dropFirst(scheme.count)
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("?"), !rest.contains("#"),
              !rest.contains("@"), !rest.contains(" ")
        else { return false }
        var host = rest
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return false }
            let after = rest[rest.index(after: close)...]
            if after.isEmpty { return true }
            guard after.hasPrefix(":"), let p = Int(after.dropFirst()), (1...65535).contains(p) else { return false }
            return true
        }
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return false }
            host = rest[..<colon]
        }
        return !host.isEmpty && host.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }
    }

}
