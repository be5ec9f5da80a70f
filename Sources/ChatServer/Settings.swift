import ChatAuth
import ChatConfig
import ChatCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// What the transport reads from the configuration on its hot paths, derived once from a
/// `Config` so that nothing per message parses or allocates for settings. A class: every
/// session holds the settings it runs with, and a copy of each was 1 KiB per connection.
final class Settings: Sendable {
    let config: Config
    let gate: UpgradeGate
    let authenticator: Authenticator
    let apiKeys: APIKeys
    let maxBodyBytes: Int
    let rules: RoomRules
    let maxRoomsPerConnection: Int
    let maxReactionsPerMessage: Int
    let sendBuffer: ChannelOptions.Types.WriteBufferWaterMarkOption.Value
    let sendQueueFrames: Int
    let maxMessageChars: Int
    let maxFrameBytes: Int
    let maxFragments: Int
    let userRateMessages: Int
    let ipRateMessages: Int
    let maxConnectionsPerIP: Int
    let upgradesPerMinutePerIP: Int
    let maxConnections: Int
    let handshakeTimeout: TimeAmount
    let decoderLimits: NIOHTTPDecoderLimitConfiguration
    let rateMessages: Int
    let rateWindowNanoseconds: UInt64
    let pingIntervalNanoseconds: Int64
    let historyWindow: Int
    let resumeLimit: Int
    let authorDeleteSeconds: Double
    let authorEditSeconds: Double
    /// `auth.jwt.refresh_ahead_seconds` (0 without `[auth.jwt]`).
    let refreshAheadSeconds: Double
    let echoEnabled: Bool
    let trustedProxies: TrustedProxies
    let maxRooms: Int
    let maxPendingConnections: Int
    let maxPendingPerIP: Int
    let ipv6PrefixLength: Int
    /// `[proxy]`: the backend's URLs ("" for none), the headers passed on at connect
    /// (lowercase), how long an answer may take, and what a failed publish check means.
    let connectURL: String
    let publishURL: String
    let forwardHeaders: [String]
    let proxyTimeout: TimeAmount
    let acceptOnProxyError: Bool
    /// `[webhooks.NAME]`: which events go where, and how each hook is posted to.
    let webhookRoutes: WebhookRoutes
    let webhooks: [String: WebhookTarget]

    /// Throws `JWTKeyError` when `[auth.jwt]`'s key cannot be used.
    init(_ config: Config) throws {
        self.config = config
        gate = UpgradeGate(
            allowedOrigins: Set(config.effectiveOrigins), defaultRoom: config.rooms.defaultRoom,
            connectProxy: !config.proxy.connectURL.isEmpty)
        authenticator = try Authenticator(Credentials(config.auth))
        apiKeys = APIKeys(config.api.keys.mapValues { ($0.keySHA256, $0.rooms) })
        maxBodyBytes = config.api.maxBodyBytes
        rules = RoomRules(config.rooms.rules)
        maxRoomsPerConnection = config.limits.maxRoomsPerConnection
        maxReactionsPerMessage = config.limits.maxReactionsPerMessage
        // Writable again once half the buffer has gone: hysteresis, not a flap per frame.
        // NIO traps on a low mark under 1: never let a config that slipped past validation reach it.
        let high = max(2, config.limits.sendBufferBytes)
        sendBuffer = .init(low: high / 2, high: high)
        sendQueueFrames = config.limits.sendQueueFrames
        maxMessageChars = config.limits.maxMessageChars
        maxFrameBytes = config.limits.maxFrameBytes
        maxFragments = config.limits.maxFragments
        userRateMessages = config.limits.userRateMessages
        ipRateMessages = config.limits.ipRateMessages
        maxConnectionsPerIP = config.limits.maxConnectionsPerIP
        upgradesPerMinutePerIP = config.limits.upgradesPerMinutePerIP
        maxConnections = config.limits.maxConnections
        handshakeTimeout = .nanoseconds(Clamped.nanoseconds(seconds: config.limits.handshakeTimeoutSeconds))
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = config.limits.maxHeaderBytes
        limits.maxHeaderFieldSize = config.limits.maxHeaderBytes
        limits.maxHeaderFieldCount = config.limits.maxHeaders
        decoderLimits = limits
        rateMessages = config.limits.rateMessages
        rateWindowNanoseconds = UInt64(Clamped.nanoseconds(seconds: config.limits.rateWindowSeconds))
        pingIntervalNanoseconds = Clamped.nanoseconds(seconds: config.heartbeat.pingIntervalSeconds)
        historyWindow = config.history.window
        resumeLimit = config.history.resumeLimit
        authorDeleteSeconds = config.moderation.authorDeleteSeconds
        authorEditSeconds = config.moderation.authorEditSeconds
        refreshAheadSeconds = config.auth.jwt?.refreshAheadSeconds ?? 0
        echoEnabled = config.server.echoEndpoint
        trustedProxies = TrustedProxies(config.server.trustedProxies.compactMap(TrustedProxies.Network.init))
        maxRooms = config.limits.maxRooms
        maxPendingConnections = config.limits.maxPendingConnections
        maxPendingPerIP = config.limits.maxPendingPerIP
        ipv6PrefixLength = config.limits.ipv6PrefixLength
        connectURL = config.proxy.connectURL
        publishURL = config.proxy.publishURL
        var seen = Set<String>()
        forwardHeaders = config.proxy.forwardHeaders.map { $0.lowercased() }.filter { seen.insert($0).inserted }
        proxyTimeout = .nanoseconds(Clamped.nanoseconds(seconds: config.proxy.timeoutSeconds))
        acceptOnProxyError = config.proxy.publishOnError == .accept
        webhookRoutes = WebhookRoutes(
            config.webhooks.map { name, hook in
                WebhookRoutes.Route(
                    name: name, events: Set(hook.events.compactMap(WebhookEventType.init(rawValue:))),
                    rooms: RoomPatterns(hook.rooms) ?? .all)
            })
        webhooks = config.webhooks.mapValues {
            WebhookTarget(
                url: $0.url, secret: $0.secret, timeout: .nanoseconds(Clamped.nanoseconds(seconds: $0.timeoutSeconds)),
                maxAgeSeconds: $0.maxAgeSeconds)
        }
    }
}

/// How one hook is posted to.
struct WebhookTarget: Sendable {
    let url: String
    let secret: [UInt8]
    let timeout: TimeAmount
    let maxAgeSeconds: Double
}

/// The settings in force, swapped whole on reload; readers take one consistent snapshot.
final class SettingsBox: Sendable {
    private let box: NIOLockedValueBox<Settings>

    init(_ settings: Settings) { box = NIOLockedValueBox(settings) }

    var current: Settings { box.withLockedValue { $0 } }

    func replace(with settings: Settings) { box.withLockedValue { $0 = settings } }
}

extension Credentials {
    /// `[auth]` as the authenticator takes it.
    init(_ auth: Config.Auth) {
        self.init(
            tokens: auth.tokens, moderatorTokens: auth.moderatorTokens,
            named: auth.credentials.mapValues {
                Named(tokenSHA256: $0.tokenSHA256, role: $0.role, rooms: $0.rooms, guestNames: $0.guestNames)
            },
            jwt: auth.jwt.map {
                JWTKey(
                    algorithm: $0.algorithm, keyFile: $0.keyFile, key: $0.key, issuer: $0.issuer, audience: $0.audience,
                    leewaySeconds: $0.leewaySeconds, guestNames: $0.guestNames)
            })
    }
}
