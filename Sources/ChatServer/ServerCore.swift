import ChatCluster
import ChatConfig
import ChatCore
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// What every connection's handlers share: settings, the hub, the page, the logger.
final class ServerCore: Sendable {
    let settings: SettingsBox
    let hub: Hub
    let logger: Logger
    let metrics: ChatMetrics
    let moderation: Moderation
    let limits = ClientLimits()
    /// Asks the application's backend (`[proxy]`).
    let backend: BackendClient
    private let siteBox: NIOLockedValueBox<StaticSite>
    /// False until the listeners are up, and again once draining starts (for /readyz).
    let ready = Atomic<Bool>(false)
    /// True once a graceful stop began: new upgrades get 503. (A connection accepted while
    /// starting is served: socket activation hands chatd its first client before `ready`.)
    let draining = Atomic<Bool>(false)
    /// The counters' recent samples (the admin console's charts), taken by the housekeeper.
    let series = NIOLockedValueBox(MetricSeries())

    var site: StaticSite { siteBox.withLockedValue { $0 } }
    func replaceSite(_ site: StaticSite) { siteBox.withLockedValue { $0 = site } }

    init(settings: Settings, hub: Hub, site: StaticSite, logger: Logger, metrics: ChatMetrics, backend: BackendClient) {
        self.settings = SettingsBox(settings)
        self.backend = backend
        self.hub = hub
        self.siteBox = NIOLockedValueBox(site)
        self.logger = logger
        self.metrics = metrics
        self.moderation = Moderation(hub: hub, logger: logger)
    }

    /// A room publishes into when the configuration names it or it is in use; anything else
    /// is most likely a typo, which a 404 shows at once. `done` is told once the event is in
    /// history (and so has its number), or that it could not be stored.
    /// With an `idempotencyKey`, a repeat is answered with the first event, whose `id` is
    /// not `id`.
    func publish(
        _ request: PublishRequest, from: String, id: String = RandomID.uuid(),
        done: @escaping @Sendable (Result<ChatMessage, PublishRefusal>) -> Void
    ) {
        let current = settings.current
        guard current.rules.isConfigured(request.room) || hub.existingRoom(request.room) != nil else {
            // Only this request waits for the store to say whether the room has history.
            Task { [self] in
                guard await hub.roomExists(request.room) else { return done(.failure(.unknownRoom(request.room))) }
                publishKnown(request, from: from, id: id, settings: current, done: done)
            }
            return
        }
        publishKnown(request, from: from, id: id, settings: current, done: done)
    }

    private func publishKnown(
        _ request: PublishRequest, from: String, id: String, settings current: Settings,
        done: @escaping @Sendable (Result<ChatMessage, PublishRefusal>) -> Void
    ) {
        let metrics = self.metrics
        hub.publish(
            room: request.room, from: from, text: request.text, author: Self.publisher(from),
            data: request.data, id: id, nonce: request.idempotencyKey, historyWindow: current.historyWindow,
            maxRooms: current.maxRooms
        ) { result in
            switch result {
            case let .success(message):
                if message.id == id { metrics.published.increment() }
                done(.success(message))
            case .failure(Hub.RoomRefusal.full):
                done(.failure(.unavailable("this server holds limits.max_rooms rooms; nothing was published")))
            case .failure:
                done(.failure(.unavailable("the history store is unavailable; nothing was published")))
            }
        }
    }

    /// The identity the server's events are by: `server:KEY` for the publish API's key KEY
    /// (what `chatctl ban` takes to stop that key), `server:operator` for `chatctl publish`.
    static func publisher(_ name: String) -> String { "server:\(name)" }

    func publish(_ request: PublishRequest, from: String) async -> Result<ChatMessage, PublishRefusal> {
        await withCheckedContinuation { continuation in
            publish(request, from: from) { continuation.resume(returning: $0) }
        }
    }

    /// What another node asks of this one: moderation here, the rest in the hub.
    func handleClusterEvent(_ event: ClusterEvent) {
        switch event {
        case let .kick(_, name, reason):
            Task { [hub] in _ = await hub.onEveryLoop { $0.kick(connection: nil, user: name, reason: reason) } }
        case let .mute(_, name, until):
            moderation.apply(.mute, name, until: until)
        case let .unmute(_, name):
            moderation.applyLift(.mute, name)
        case let .ban(_, name, until):
            moderation.apply(.ban, name, until: until)
        case let .unban(_, name):
            moderation.applyLift(.ban, name)
        case .resync:
            // Mutes and bans told meanwhile were missed too: the table has them.
            moderation.reloadAfterResync()
            hub.handleClusterEvent(event)
        default:
            hub.handleClusterEvent(event)
        }
    }
}
