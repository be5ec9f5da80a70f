import ChatConfig
import ChatCore
import NIOConcurrencyHelpers

/// What the transport reads from the configuration on its hot paths, derived once from a
/// `Config` so that nothing per message parses or allocates for settings.
struct Settings: Sendable {
    let config: Config
    let gate: UpgradeGate
    let maxMessageChars: Int
    let maxFrameBytes: Int
    let maxFragments: Int
    let rateMessages: Int
    let rateWindowNanoseconds: UInt64
    let pingIntervalNanoseconds: Int64
    let historyWindow: Int
    let resumeLimit: Int
    let authorDeleteSeconds: Double
    let echoEnabled: Bool
    let trustedProxies: TrustedProxies

    init(_ config: Config) {
        self.config = config
        gate = UpgradeGate(
            allowedOrigins: Set(config.effectiveOrigins),
            tokens: config.auth.tokens,
            moderatorTokens: config.auth.moderatorTokens,
            defaultRoom: config.rooms.defaultRoom
        )
        maxMessageChars = config.limits.maxMessageChars
        maxFrameBytes = config.limits.maxFrameBytes
        maxFragments = config.limits.maxFragments
        rateMessages = config.limits.rateMessages
        rateWindowNanoseconds = UInt64(config.limits.rateWindowSeconds * 1e9)
        pingIntervalNanoseconds = Int64(config.heartbeat.pingIntervalSeconds * 1e9)
        historyWindow = config.history.window
        resumeLimit = config.history.resumeLimit
        authorDeleteSeconds = config.moderation.authorDeleteSeconds
        echoEnabled = config.server.echoEndpoint
        trustedProxies = TrustedProxies(config.server.trustedProxies.compactMap(TrustedProxies.Network.init))
    }
}

/// The settings in force, swapped whole on reload; readers take one consistent snapshot.
final class SettingsBox: Sendable {
    private let box: NIOLockedValueBox<Settings>

    init(_ settings: Settings) { box = NIOLockedValueBox(settings) }

    var current: Settings { box.withLockedValue { $0 } }

    func replace(with settings: Settings) { box.withLockedValue { $0 = settings } }
}
