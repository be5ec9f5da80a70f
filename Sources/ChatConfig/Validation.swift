import ChatCore
import Foundation

/// Range and shape checks on a whole `Config`, after the types are known to be right.
enum Validation {
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    static func check(_ c: Config, file: String, lines: KeyLines) throws(ConfigError) {
        func fail(_ kind: ConfigError.Kind, _ key: String, _ message: String) -> ConfigError {
            ConfigError(kind: kind, file: file, line: lines.line(of: key), key: key, message: message)
        }

        for numeric in NumericKeys.all {
            for (key, value) in numeric.values(c) where !numeric.accepts(value) {
                throw fail(.outOfRange, key, outOfRangeMessage(numeric, value))
            }
        }
        if c.server.listen.isEmpty { throw fail(.invalidValue, "server.listen", "must name at least one address") }
        if let root = c.server.webRoot, root.isEmpty { throw fail(.invalidValue, "server.web_root", "must not be empty") }
        if !c.control.socket.isEmpty, !c.control.socket.hasPrefix("/") {
            throw fail(.invalidValue, "control.socket", "must be an absolute path, or \"\" to disable")
        }
        if c.control.socket.utf8.count > 107 {
            throw fail(.invalidValue, "control.socket", "is longer than a Unix socket path may be (107 bytes)")
        }
        for token in c.auth.moderatorTokens where token.isEmpty {
            throw fail(.invalidValue, "auth.moderator_tokens", "tokens must not be empty strings")
        }
        for proxy in c.server.trustedProxies where TrustedProxies.Network(proxy) == nil {
            throw fail(.invalidValue, "server.trusted_proxies", "\"\(proxy)\" is not an IP address or CIDR network")
        }
        if c.auth.tokens.isEmpty && c.auth.moderatorTokens.isEmpty && c.auth.credentials.isEmpty && c.auth.jwt == nil
            && c.proxy.connectURL.isEmpty
        {
            throw fail(
                .invalidValue, "auth.tokens",
                "no credential is configured: set auth.tokens, [auth.credentials.NAME], [auth.jwt] or proxy.connect_url")
        }
        for (key, url) in [("proxy.connect_url", c.proxy.connectURL), ("proxy.publish_url", c.proxy.publishURL)]
        where !url.isEmpty && !isBackendURL(url) {
            throw fail(
                .invalidValue, key,
                "\"\(url)\" is not an http:// or https:// URL with a host and a port 1-65535 (no user:password@, no #fragment), or \"\" for none"
            )
        }
        for (name, hook) in c.webhooks.sorted(by: { $0.key < $1.key }) {
            let key = "webhooks.\(name)"
            if !isBackendURL(hook.url) {
                throw fail(
                    .invalidValue, "\(key).url",
                    "\"\(hook.url)\" is not an http:// or https:// URL with a host and a port 1-65535 (no user:password@, no #fragment)")
            }
            if hook.secretFile.isEmpty { throw fail(.invalidValue, "\(key).secret_file", "must name the file holding the signing secret") }
            for event in hook.events where WebhookEventType(rawValue: event) == nil {
                throw fail(
                    .invalidValue, "\(key).events",
                    "\"\(event)\" is not an event; known: \(WebhookEventType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if hook.events.isEmpty { throw fail(.invalidValue, "\(key).events", "must name at least one event") }
            if hook.rooms.isEmpty { throw fail(.invalidValue, "\(key).rooms", "must name at least one room or pattern") }
            for pattern in hook.rooms where !RoomPatterns.isValid(pattern) {
                throw fail(.invalidValue, "\(key).rooms", "\"\(pattern)\" is neither a room name nor a prefix pattern such as \"team-*\"")
            }
        }
        for name in c.proxy.forwardHeaders where !BackendProxy.isForwardable(name) {
            throw fail(
                .invalidValue, "proxy.forward_headers",
                "\"\(name)\" is not a header chatd forwards (a header name; not host, content-length, connection, upgrade …)")
        }
        for (name, credential) in c.auth.credentials.sorted(by: { $0.key < $1.key }) {
            let key = "auth.credentials.\(name)"
            if !isSHA256Hex(credential.tokenSHA256) {
                throw fail(
                    .invalidValue, "\(key).token_sha256", "must be 64 hex digits, the SHA-256 of the token (printf %s TOKEN | sha256sum)")
            }
            for pattern in credential.rooms where !RoomPatterns.isValid(pattern) {
                throw fail(.invalidValue, "\(key).rooms", "\"\(pattern)\" is neither a room name nor a prefix pattern such as \"team-*\"")
            }
        }
        for (name, apiKey) in c.api.keys.sorted(by: { $0.key < $1.key }) {
            if !isSHA256Hex(apiKey.keySHA256) {
                throw fail(
                    .invalidValue, "api.keys.\(name).key_sha256",
                    "must be 64 hex digits, the SHA-256 of the key (printf %s KEY | sha256sum)")
            }
            for pattern in apiKey.rooms where !RoomPatterns.isValid(pattern) {
                throw fail(
                    .invalidValue, "api.keys.\(name).rooms", "\"\(pattern)\" is neither a room name nor a prefix pattern such as \"dash-*\""
                )
            }
        }
        let hashes = c.auth.credentials.map { $0.value.tokenSHA256.lowercased() }
        if Set(hashes).count != hashes.count {
            throw fail(.invalidValue, "auth.credentials", "two credentials have the same token_sha256")
        }
        if let jwt = c.auth.jwt {
            if !Config.JWT.algorithms.contains(jwt.algorithm) {
                throw fail(
                    .invalidValue, "auth.jwt.algorithm",
                    "must be one of \(Config.JWT.algorithms.joined(separator: ", ")), got \"\(jwt.algorithm)\"")
            }
            if jwt.keyFile.isEmpty { throw fail(.invalidValue, "auth.jwt.key_file", "must name the secret or public key file") }
        }
        for token in c.auth.tokens where token.isEmpty {
            throw fail(.invalidValue, "auth.tokens", "tokens must not be empty strings")
        }
        for origin in c.auth.allowedOrigins ?? [] where !isOrigin(origin) {
            throw fail(.invalidValue, "auth.allowed_origins", "\"\(origin)\" is not an origin (scheme://host[:port], no path)")
        }
        if !["normal", "full"].contains(c.history.synchronous) {
            throw fail(.invalidValue, "history.synchronous", "must be \"normal\" or \"full\", got \"\(c.history.synchronous)\"")
        }
        if c.cluster.isEnabled, c.cluster.database == nil {
            throw fail(
                .invalidValue, "cluster.database_url",
                "must be postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]")
        }
        if !c.cluster.nodeID.isEmpty, !Sanitize.isValidRoom(c.cluster.nodeID) {
            throw fail(.invalidValue, "cluster.node_id", "\"\(c.cluster.nodeID)\" is not a node name (1-32 of a-z A-Z 0-9 _ -)")
        }
        if !(c.cluster.nodeTimeoutSeconds >= 2 * c.cluster.heartbeatSeconds) {
            throw fail(
                .outOfRange, "cluster.node_timeout_seconds",
                "must be at least twice cluster.heartbeat_seconds (\(c.cluster.heartbeatSeconds)), got \(c.cluster.nodeTimeoutSeconds)")
        }
        if !Sanitize.isValidRoom(c.rooms.defaultRoom) {
            throw fail(.invalidValue, "rooms.default", "\"\(c.rooms.defaultRoom)\" is not a room name (1-32 of a-z A-Z 0-9 _ -)")
        }
        if !logLevels.contains(c.log.level) {
            throw fail(.invalidValue, "log.level", "must be one of \(logLevels.joined(separator: ", ")), got \"\(c.log.level)\"")
        }
    }

    /// Below the range says the minimum, above it the maximum, so the operator reads the bound
    /// they crossed; NaN and infinities get the whole range.
    static func outOfRangeMessage(_ numeric: NumericKey, _ value: NumericKey.Value) -> String {
        let unit = numeric.unit.isEmpty ? "" : " \(numeric.unit)"
        let number: Double =
            switch value {
            case let .integer(n): Double(n)
            case let .number(d): d
            }
        if number.isNaN || number.isInfinite {
            return "must be a finite number, \(numeric.rangeText), got \(value)"
        }
        if number < numeric.minimum {
            return "must be at least \(NumericKey.Value.number(numeric.minimum))\(unit), got \(value)"
        }
        return "must be at most \(NumericKey.Value.number(numeric.maximum))\(unit), got \(value)"
    }

    /// `http://` or `https://`, a host, no spaces or control characters: what the HTTP client
    /// can post to.
    static func isBackendURL(_ s: String) -> Bool {
        guard s.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }),
            let components = URLComponents(string: s), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty,
            components.user == nil, components.password == nil, components.fragment == nil
        else { return false }
        // The HTTP client traps on a port past 65535 (found by review): refused here.
        if let port = components.port, !(1...65535).contains(port) { return false }
        return true
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
