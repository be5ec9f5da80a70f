import ChatClient
import ChatConfig
import ChatServer
import Foundation
import Testing

/// Issue 13, items 7 and 11: every numeric key's extremes (from the one list, `NumericKeys`)
/// go through the loader, a start and a reload. A value the loader accepts must start chatd
/// and be reloadable without harm; a value it refuses must leave a running chatd as it was.
@Suite(.serialized) struct ConfigExtremesTests {
    /// The folder of the test's config "file", with the HS256 secret `auth.jwt` needs.
    static let folder: String = {
        let folder = NSTemporaryDirectory() + "chatd-extremes-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: folder + "/jwt.secret", contents: Data(String(repeating: "s", count: 40).utf8))
        return folder
    }()

    static var file: String { folder + "/chatd.toml" }

    /// TOML literals of a key's bounds, and of values just outside, far outside and not numbers.
    static func extremes(_ numeric: NumericKey) -> (accepted: [String], refused: [String]) {
        switch numeric.kind {
        case .integer:
            let (lo, hi) = (Int(numeric.minimum), Int(numeric.maximum))
            return (["\(lo)", "\(hi)"], ["\(lo - 1)", "\(hi + 1)", "10000000000", "-10000000000"])
        case .number:
            return (
                ["\(NumericKey.Value.number(numeric.minimum))", "\(NumericKey.Value.number(numeric.maximum))"],
                ["\(numeric.minimum - 0.001)", "\(numeric.maximum + 0.001)", "1e10", "-1e10", "nan", "inf"]
            )
        }
    }

    /// What the loader makes of a file setting only `numeric` to `literal`.
    static func load(_ numeric: NumericKey, _ literal: String) -> Result<Config, ConfigError> {
        Result { () throws(ConfigError) in try ConfigLoader.parse(numeric.toml(literal), file: file) }
    }

    /// `config` with what the test harness needs: loopback on port 0, a fresh history, no
    /// control socket or metrics. Rate limits the key under test does not set are generous, so
    /// that one key's minimum does not starve the chat checks that follow it (a token bucket
    /// emptied at capacity 1 refills at the rate of the limit it returns to).
    static func harnessed(_ config: Config, testing key: String, history: String) -> Config {
        var c = config
        c.server.listen = [ListenAddress(host: "127.0.0.1", port: 0)]
        c.auth.allowedOrigins = ["http://localhost:8080"]
        c.metrics.listen = nil
        c.control.socket = ""
        c.history.path = history
        if key != "limits.upgrades_per_minute_per_ip" { c.limits.upgradesPerMinutePerIP = 1_000_000 }
        if key != "limits.ip_rate_messages" { c.limits.ipRateMessages = 1_000_000 }
        if key != "limits.user_rate_messages" { c.limits.userRateMessages = 1_000_000 }
        if key != "limits.rate_messages" { c.limits.rateMessages = 1000 }
        return c
    }

    /// Sends `text` from `client` and waits for it to come back (other messages are skipped).
    static func roundTrip(_ client: WebSocketClient, _ text: String) async throws {
        try await client.sendJSON(text)
        while true {
            let m = try await client.nextJSON(type: "message")
            if (m["message"] as? [String: Any])?["text"] as? String == text { return }
        }
    }

    @Test func refusedValuesNameFileLineAndKey() {
        for numeric in NumericKeys.all {
            for literal in Self.extremes(numeric).refused {
                guard case let .failure(error) = Self.load(numeric, literal) else {
                    Issue.record("\(numeric.key) = \(literal) was accepted")
                    continue
                }
                let key = numeric.key.replacingOccurrences(of: "NAME", with: "r").replacingOccurrences(of: "PATTERN", with: "*")
                #expect(
                    error.kind == .outOfRange && error.key == key && error.line == numeric.companions.count + 2,
                    "\(numeric.key) = \(literal): \(error)")
                #expect(error.description.hasPrefix("\(Self.file):\(numeric.companions.count + 2): \(key): "), "\(error)")
            }
        }
    }

    @Test func everyAcceptedExtremeStarts() async throws {
        for numeric in NumericKeys.all {
            for literal in Self.extremes(numeric).accepted {
                let loaded = try Self.load(numeric, literal).get()
                let history = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)/history.sqlite"
                let config = Self.harnessed(loaded, testing: numeric.key, history: history)
                // As chatd does: server.threads > 0 sizes the event loop group.
                let s = try await TestServer.start(threads: config.server.threads > 0 ? config.server.threads : 1) { $0 = config }
                let health = try await s.http("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(health.head.status == 200, "\(numeric.key) = \(literal)")
                try await s.stop()
            }
        }
    }

    @Test func aRunningServerReloadsToEveryExtremeAndBackAndKeepsChatting() async throws {
        let history = NSTemporaryDirectory() + "chatd-test-\(UUID().uuidString)/history.sqlite"
        let base = Self.harnessed(Config(), testing: "", history: history)
        let s = try await TestServer.start { $0 = base }
        let witness = try await s.join(name: "witness", room: "witness-room")
        var checks = 0
        for numeric in NumericKeys.all {
            let (accepted, refused) = Self.extremes(numeric)
            for literal in accepted {
                let loaded = try Self.load(numeric, literal).get()
                let extreme = Self.harnessed(loaded, testing: numeric.key, history: history)
                let there = await s.server.reload(to: .success(extreme))
                #expect(there.ok, "reload to \(numeric.key) = \(literal): \(there.error ?? "")")
                let back = await s.server.reload(to: .success(base))
                #expect(back.ok, "reload back from \(numeric.key) = \(literal): \(back.error ?? "")")
                // Restart-only keys are kept at their running values, so going back is no change.
                if ConfigDiff.restartKeys.contains(numeric.key) {
                    #expect(there.applied.isEmpty && back.isEmptyChange, "\(numeric.key): \(there) / \(back)")
                }
            }
            // What the loader refuses never reaches the server: the old config stays.
            let kept = await s.server.reload(to: Self.load(numeric, refused[2]))
            #expect(!kept.ok, "\(numeric.key) = \(refused[2]) was applied")
            // A config built in code, bypassing the loader, is refused just the same.
            if case let .success(inRange) = Self.load(numeric, accepted[1]) {
                var outside = Self.harnessed(inRange, testing: numeric.key, history: history)
                Self.push(numeric, in: &outside)
                let r = await s.server.reload(to: .success(outside))
                #expect(
                    !r.ok
                        && r.error?.contains(numeric.key.components(separatedBy: ".NAME").first!.components(separatedBy: ".PATTERN").first!)
                            == true,
                    "\(numeric.key): \(r.error ?? "accepted")")
            }
            // After each key: a new client connects and chats.
            let c = try await s.join(name: "c\(checks)")
            try await Self.roundTrip(c, "after \(numeric.key)")
            await c.close()
            checks += 1
        }
        try await Self.roundTrip(witness, "still here")
        await witness.close()
        try await s.stop()
    }

    /// Sets `numeric` in `config` to a value past its maximum, as code that skipped the loader
    /// might (the loader never would).
    static func push(_ numeric: NumericKey, in c: inout Config) {
        let big = Int(numeric.maximum) + 1
        let far = numeric.maximum * 1e6 + 1
        switch numeric.key {
        case "server.drain_seconds": c.server.drainSeconds = far
        case "server.threads": c.server.threads = big
        case "auth.jwt.leeway_seconds": c.auth.jwt?.leewaySeconds = far
        case "auth.jwt.refresh_ahead_seconds": c.auth.jwt?.refreshAheadSeconds = far
        case "limits.max_message_chars": c.limits.maxMessageChars = big
        case "limits.max_frame_bytes": c.limits.maxFrameBytes = big
        case "limits.max_fragments": c.limits.maxFragments = big
        case "limits.rate_messages": c.limits.rateMessages = big
        case "limits.rate_window_seconds": c.limits.rateWindowSeconds = far
        case "limits.user_rate_messages": c.limits.userRateMessages = big
        case "limits.ip_rate_messages": c.limits.ipRateMessages = big
        case "limits.max_connections_per_ip": c.limits.maxConnectionsPerIP = big
        case "limits.upgrades_per_minute_per_ip": c.limits.upgradesPerMinutePerIP = big
        case "limits.max_connections": c.limits.maxConnections = big
        case "limits.handshake_timeout_seconds": c.limits.handshakeTimeoutSeconds = far
        case "limits.max_header_bytes": c.limits.maxHeaderBytes = big
        case "limits.max_headers": c.limits.maxHeaders = big
        case "limits.max_rooms_per_connection": c.limits.maxRoomsPerConnection = big
        case "limits.send_buffer_bytes": c.limits.sendBufferBytes = big
        case "limits.send_queue_frames": c.limits.sendQueueFrames = big
        case "limits.max_rooms": c.limits.maxRooms = big
        case "limits.max_pending_connections": c.limits.maxPendingConnections = big
        case "limits.max_pending_per_ip": c.limits.maxPendingPerIP = big
        case "limits.ipv6_prefix_length": c.limits.ipv6PrefixLength = big
        case "heartbeat.ping_interval_seconds": c.heartbeat.pingIntervalSeconds = far
        case "history.window": c.history.window = big
        case "history.resume_limit": c.history.resumeLimit = big
        case "rooms.rules.PATTERN.max_members": c.rooms.rules["*"]?.maxMembers = big
        case "api.max_body_bytes": c.api.maxBodyBytes = big
        case "retention.max_messages": c.retention.defaults.maxMessages = big
        case "retention.max_age_hours": c.retention.defaults.maxAgeHours = far
        case "retention.interval_seconds": c.retention.intervalSeconds = far
        case "retention.audit_max_age_hours": c.retention.auditMaxAgeHours = far
        case "retention.rooms.NAME.max_messages": c.retention.rooms["r"]?.maxMessages = big
        case "retention.rooms.NAME.max_age_hours": c.retention.rooms["r"]?.maxAgeHours = far
        case "moderation.author_delete_seconds": c.moderation.authorDeleteSeconds = far
        case "moderation.author_edit_seconds": c.moderation.authorEditSeconds = far
        case "limits.max_reactions_per_message": c.limits.maxReactionsPerMessage = big
        case "compression.min_bytes": c.compression.minBytes = big
        case "compression.level": c.compression.level = big
        case "control.allowed_uids": c.control.allowedUIDs = [big]
        case "cluster.heartbeat_seconds": c.cluster.heartbeatSeconds = far
        case "cluster.node_timeout_seconds": c.cluster.nodeTimeoutSeconds = far
        case "proxy.timeout_seconds": c.proxy.timeoutSeconds = far
        case "webhooks.NAME.timeout_seconds": c.webhooks["r"]?.timeoutSeconds = far
        case "webhooks.NAME.max_age_seconds": c.webhooks["r"]?.maxAgeSeconds = far
        default: Issue.record("no way to push \(numeric.key) out of range: add it here")
        }
    }
}

extension ReloadOutcome {
    fileprivate var isEmptyChange: Bool { applied.isEmpty && needsRestart.isEmpty }
}
