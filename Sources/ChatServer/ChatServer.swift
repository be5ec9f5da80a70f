import ChatAuth
import ChatCluster
public import ChatConfig
import ChatCore
import ChatStore
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
public import Systemd

/// chatd's network side: binds (or adopts) listeners, wires each connection's pipeline,
/// reloads, reports, and stops. One instance per process; tests start it on port 0.
public final class ChatServer: Sendable {
    public struct Options: Sendable {
        /// The file a reload re-reads; nil means built-in defaults (reload re-applies them).
        public var configPath: String?
        /// The environment a reload applies on top of the file (PORT, CHAT_TOKEN, ALLOWED_ORIGINS).
        public var environment: [String: String] = [:]
        /// The page folder when the config names none.
        public var defaultWebRoot: String
        public var threads: Int = System.coreCount
        /// Sockets passed by systemd; `http` and `metrics` replace the configured addresses.
        public var listenFDs: [Systemd.ListenFD] = []
        /// Where sd_notify messages go; nil sends none.
        public var notify: (@Sendable (String) -> Void)?
        /// systemd's watchdog interval; nil when the watchdog is off.
        public var watchdog: Duration?
        public var version = "0.1.0"
        /// How long a cluster node waits for its database at start before giving up (a
        /// database that boots after chatd, or is restarting).
        public var databaseStartPatience: Duration = .seconds(60)

        public init(defaultWebRoot: String) {
            self.defaultWebRoot = defaultWebRoot
        }
    }

    public let group: MultiThreadedEventLoopGroup
    let core: ServerCore
    let options: Options
    /// Bound listeners by door ("chat", "metrics", "control"), each closed by its part.
    let channels = NIOLockedValueBox<[String: [any Channel]]>([:])
    let state: NIOLockedValueBox<RuntimeState>
    let reloadQueue = DispatchQueue(label: "chatd.reload")
    let controlPath = NIOLockedValueBox<String?>(nil)
    let retention: RetentionJob
    /// Delivers the webhook outbox (nil without a store: tests of the transport alone).
    let webhooks: WebhookDispatcher?
    private let webhooksClient: BackendClient
    private let sqlite: SQLiteStore?
    private let lifetime = NIOLockedValueBox<Lifetime?>(nil)
    /// The start in progress or done, so that a stop asked for meanwhile can cancel it and wait.
    private let starting = NIOLockedValueBox<Task<Bound, any Error>?>(nil)
    /// Opened when `startAll`'s work has ended, however it ended.
    private let startEnded = Gate()
    /// A drain time given to `shutdown(drain:)`, in place of `server.drain_seconds`.
    private let drainOverride = NIOLockedValueBox<Duration?>(nil)
    /// In a cluster: the database's own event loop (its connections' work never delays a
    /// chat loop), the store, and the bus to the other nodes.
    private let databaseGroup: MultiThreadedEventLoopGroup?
    let postgres: PostgresStore?
    let bus: ClusterBus?

    /// The running service group and the task that stops the event loops once it is done.
    struct Lifetime {
        let group: ServiceGroup
        let finished: Task<Result<Void, any Error>, Never>
    }

    struct RuntimeState {
        var config: Config
        var generation = 1
        var lastReload: ReloadOutcome?
        let started = Date()
    }

    /// Loads the page and prepares the event loops; `start()` binds.
    public init(config: Config, options: Options, logger: Logger) throws {
        self.options = options
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.threads))
        let site = try StaticSite(root: config.server.webRoot ?? options.defaultWebRoot)
        let metrics = ChatMetrics()
        let store: any ChatStore
        var sqlite: SQLiteStore?
        var cluster: (url: PostgresURL, node: String, store: PostgresStore)?
        if let url = config.cluster.database {
            let databaseGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            self.databaseGroup = databaseGroup
            let node = config.cluster.nodeID.isEmpty ? ClusterNode.defaultID() : config.cluster.nodeID
            // Connected (and its tables made) by `startAll`, before anything is served.
            let postgres = PostgresStore(url: url, node: node, group: databaseGroup, logger: logger)
            cluster = (url, node, postgres)
            store = postgres
        } else {
            databaseGroup = nil
            let path = config.history.resolvedPath(environment: options.environment)
            do {
                let opened = try SQLiteStore(path: path, synchronous: config.history.synchronous == "full" ? .full : .normal)
                (store, sqlite) = (opened, opened)
            } catch {
                throw StartupError.historyStore(path: path, error)
            }
            logger.notice("history store", metadata: ["path": "\(path)", "synchronous": "\(config.history.synchronous)"])
        }
        self.sqlite = sqlite
        let settings: Settings
        do {
            settings = try Settings(config)
        } catch {
            // Settings throws only for a key file whose contents cannot be used.
            throw StartupError(isConfiguration: true, what: "auth.jwt.key_file", reason: "\(error)")
        }
        if settings.authenticator.hasPlainTokens {
            logger.warning(
                "auth.tokens/auth.moderator_tokens hold plain tokens: for development only; store SHA-256 hashes in [auth.credentials.NAME]"
            )
        }
        core = ServerCore(
            settings: settings,
            hub: try Hub(loops: Array(group.makeIterator()), metrics: metrics, store: store),
            site: site, logger: logger, metrics: metrics, backend: BackendClient(group: group, logger: logger))
        state = NIOLockedValueBox(RuntimeState(config: config))
        retention = RetentionJob(hub: core.hub, settings: core.settings, logger: logger)
        store.setWebhookRoutes(settings.webhookRoutes)
        core.hub.webhookEvents?.routes.withLockedValue { $0 = settings.webhookRoutes }
        let hooksClient = BackendClient(group: group, logger: logger)
        webhooksClient = hooksClient
        webhooks = WebhookDispatcher(store: store, backend: hooksClient, settings: core.settings, metrics: metrics, logger: logger)
        if let cluster, let databaseGroup {
            let (hub, core) = (core.hub, core)
            let bus = ClusterBus(
                heartbeatSeconds: config.cluster.heartbeatSeconds, nodeTimeoutSeconds: config.cluster.nodeTimeoutSeconds,
                url: cluster.url, node: cluster.node, store: cluster.store,
                loop: databaseGroup.next(), logger: logger, counts: { hub.localCounts() },
                handler: { core.handleClusterEvent($0) })
            hub.cluster.withLockedValue { $0 = bus }
            metrics.cluster.withLockedValue { $0 = { bus.status } }
            self.bus = bus
            postgres = cluster.store
        } else {
            bus = nil
            postgres = nil
        }
    }

    /// The convenience the tests use: defaults for everything but config and page.
    public convenience init(config: Config, webRoot: String, logger: Logger, threads: Int = System.coreCount) throws {
        var options = Options(defaultWebRoot: webRoot)
        options.threads = threads
        try self.init(config: config, options: options, logger: logger)
    }

    public struct Bound: Sendable {
        public var http: [SocketAddress] = []
        public var metrics: SocketAddress?
        public var control: String?
    }

    /// Binds (or adopts) the chat listeners, the metrics listener and the control socket.
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        try await startAll().http
    }

    /// Starts every part (`lifecycle`): the host's own (`host`, chatd's signal handling) and
    /// the store first, then, once the store is ready, the doors (bound here, so that a
    /// failure to bind is this call's error). Undo a failure with `shutdown(drain: .zero)`.
    ///
    /// A `shutdown` while this runs (a stop signal during a long wait for the database)
    /// cancels it: it throws `CancellationError`, and the parts stop once it has.
    @discardableResult
    public func startAll(with host: [any Service] = []) async throws -> Bound {
        let work = Task { [self] in
            defer { startEnded.open() }
            return try await start(with: host)
        }
        starting.withLockedValue { $0 = work }
        return try await withTaskCancellationHandler {
            try await work.value
        } onCancel: {
            work.cancel()
        }
    }

    private func start(with host: [any Service]) async throws -> Bound {
        let config = state.withLockedValue { $0.config }
        let (store, doors) = lifecycle()
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: (host + store).map { .init(service: $0) }, logger: core.logger))
        let finished = Task<Result<Void, any Error>, Never> { [self] in
            var outcome: Result<Void, any Error> = .success(())
            do {
                try await group.run()
            } catch {
                core.logger.error("a part of chatd failed: \(error)")
                outcome = .failure(error)
            }
            // Not while the start still binds on them.
            await startEnded.wait()
            try? await self.stopLoops()
            return outcome
        }
        lifetime.withLockedValue { $0 = Lifetime(group: group, finished: finished) }

        if let postgres, let url = config.cluster.database {
            do {
                try await ClusterNode.connect(
                    url: url, patience: options.databaseStartPatience, logger: core.logger,
                    notify: options.notify
                ) { try await postgres.migrate() }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                throw ClusterStartError(database: url.redacted, reason: "\(String(reflecting: error))")
            }
            core.logger.notice("history store", metadata: ["database": "\(url.redacted)", "node": "\(bus?.node ?? "")"])
        }
        // Before the doors open: a banned client must not get in while the bans load.
        try await core.moderation.reload()
        try Task.checkCancellation()
        var bound = Bound()
        let passed = options.listenFDs
        let httpFDs = passed.filter { $0.name == "http" }
        if httpFDs.isEmpty {
            for address in config.server.listen {
                bound.http.append(try await keep(chatBootstrap().bind(host: address.host, port: address.port).get(), door: "chat"))
            }
        } else {
            for fd in httpFDs {
                bound.http.append(try await keep(chatBootstrap().withBoundSocket(fd.fd).get(), door: "chat"))
            }
        }
        if let fd = passed.first(where: { $0.name == "metrics" }) {
            bound.metrics = try await keep(metricsBootstrap().withBoundSocket(fd.fd).get(), door: "metrics")
        } else if let address = config.metrics.listen {
            bound.metrics = try await keep(metricsBootstrap().bind(host: address.host, port: address.port).get(), door: "metrics")
        }
        for fd in passed where fd.name != "http" && fd.name != "metrics" {
            core.logger.warning("ignoring a passed socket with an unknown name", metadata: ["name": "\(fd.name)"])
        }
        if !config.control.socket.isEmpty {
            // Without its control socket chatd still serves chat (e.g. `make run` as a user
            // who may not create /run/chatd); chatctl then says chatd is not running.
            do {
                bound.control = try await startControl(path: config.control.socket)
            } catch {
                core.logger.warning("no control socket: cannot create \(config.control.socket): \(error)")
            }
        }
        for address in bound.http {
            core.logger.notice("listening", metadata: ["address": "\(address)", "activated": "\(!httpFDs.isEmpty)"])
        }
        if let metrics = bound.metrics { core.logger.notice("metrics listening", metadata: ["address": "\(metrics)"]) }
        try Task.checkCancellation()
        for part in doors { await group.addServiceUnlessShutdown(part) }
        core.ready.store(true, ordering: .relaxed)
        return bound
    }

    /// Every long-lived part, in start order; the group stops them in the reverse order, each
    /// once the parts after it have finished. `store`: what the history needs, started before
    /// anything is served. `doors`: started once the store is ready and the listeners are
    /// bound; the chat door is stopped first (clients get 1001 and drain) while the watchdog
    /// is still pinged and the store still commits what they sent.
    private func lifecycle() -> (store: [any Service], doors: [any Service]) {
        // Never empty (one store or the other): a group started empty finishes at once and
        // would never start the doors added to it.
        var store: [any Service] = []
        if let postgres { store.append(Part("database pool") { await postgres.run() }) }
        if let sqlite { store.append(Part("sqlite checkpointer") { await sqlite.checkpointEvery(seconds: 1) }) }
        var doors: [any Service] = []
        if let bus { doors.append(Part("cluster bus", start: { bus.start() }, stop: { bus.stop() })) }
        let retention = self.retention
        doors.append(Part("retention", start: { retention.start() }, stop: { retention.stop() }))
        // Stopped after the chat door has drained: what the last clients did is in the outbox,
        // and what is not delivered by then waits there for the next start.
        if let webhooks { doors.append(Part("webhooks") { await webhooks.run() }) }
        let keeper = Housekeeper(server: self, watchdog: options.watchdog, notify: options.notify)
        doors.append(Part("housekeeper", start: { keeper.start() }, stop: { keeper.stop() }))
        doors.append(
            Part(
                "control socket",
                stop: { [self] in
                    await closeDoor("control")
                    if let path = controlPath.withLockedValue({ $0 }) { unlink(path) }
                }))
        doors.append(Part("metrics listener", stop: { [self] in await closeDoor("metrics") }))
        doors.append(Part("chat listeners", stop: { [self] in await drain() }))
        return (store, doors)
    }

    private func keep(_ channel: any Channel, door: String) throws -> SocketAddress {
        channels.withLockedValue { $0[door, default: []].append(channel) }
        guard let address = channel.localAddress else { throw ChannelError.inappropriateOperationForState }
        return address
    }

    private func closeDoor(_ door: String) async {
        let listeners = channels.withLockedValue { $0.removeValue(forKey: door) ?? [] }
        for channel in listeners { try? await channel.close() }
    }

    private func startControl(path: String) async throws -> String {
        let directory = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755])
        }
        // A socket file left by a chatd that died is taken over; one that still answers is
        // another chatd's (the same control.socket, other ports): taking it would cut that
        // chatd off from chatctl, and unlinking it at exit would too.
        if FileManager.default.fileExists(atPath: path),
            let live = try? await ClientBootstrap(group: group).connect(unixDomainSocketPath: path).get()
        {
            try? await live.close()
            throw ControlSocketInUse(path: path)
        }
        let channel = try await ControlServer.bootstrap(group: group, server: self)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        channels.withLockedValue { $0["control", default: []].append(channel) }
        chmod(path, 0o660)
        controlPath.withLockedValue { $0 = path }
        core.logger.notice("control socket", metadata: ["path": "\(path)"])
        return path
    }

    /// True when this chatd is a node of a cluster.
    public var isClusterNode: Bool { bus != nil }

    /// Open WebSocket connections.
    public var connectionCount: Int { core.hub.connections.load(ordering: .relaxed) }

    /// Stops every part in reverse order (see `lifecycle`) and then the event loops; returns
    /// when all is stopped. `drain` replaces `server.drain_seconds` for this stop.
    public func shutdown(drain: Duration? = nil) async throws {
        if let drain { drainOverride.withLockedValue { $0 = drain } }
        if let start = starting.withLockedValue({ $0 }) {
            start.cancel()
            _ = await start.result
        }
        guard let lifetime = lifetime.withLockedValue({ $0 }) else {
            try await stopLoops()
            return
        }
        await lifetime.group.triggerGracefulShutdown()
        _ = await lifetime.finished.value
    }

    /// Waits until chatd has stopped (a `shutdown` or a part that failed); throws the failure.
    public func run() async throws {
        guard let lifetime = lifetime.withLockedValue({ $0 }) else { return }
        try await lifetime.finished.value.get()
    }

    /// The chat door's stop: `/readyz` turns 503 and new upgrades get 503, the listeners
    /// close, pending messages are committed and delivered, then every client is closed with
    /// 1001 (reconnect later) and given up to the drain time to go.
    private func drain() async {
        let wait =
            drainOverride.withLockedValue { $0 }
            ?? .milliseconds(Int64(state.withLockedValue { $0.config.server.drainSeconds } * 1000))
        core.ready.store(false, ordering: .relaxed)
        core.draining.store(true, ordering: .relaxed)
        options.notify?("STOPPING=1\nSTATUS=draining \(connectionCount) connections")
        let deadline = ContinuousClock.now + wait
        await closeDoor("chat")
        // Within the drain time: a store that does not answer (the database is down) must not
        // hold the stop past it; what is not committed by then is not sent.
        await waitAtMost(until: deadline) { [hub = core.hub] in await hub.flush() }
        await core.hub.closeAll(code: .goingAway, reason: "server shutting down")
        await waitForConnections(until: deadline)
    }

    /// Removes the control socket's file (a stop that cannot wait for the parts to stop).
    public func removeControlSocketFile() {
        if let path = controlPath.withLockedValue({ $0 }) { unlink(path) }
    }

    private func stopLoops() async throws {
        await core.backend.shutdown()
        await webhooksClient.shutdown()
        try await group.shutdownGracefully()
        try await databaseGroup?.shutdownGracefully()
    }

    /// Waits for the last connection to go, checking each event loop's closes as they land.
    private func waitForConnections(until deadline: ContinuousClock.Instant) async {
        while connectionCount > 0, ContinuousClock.now < deadline {
            // Each round trips through every loop, so it waits for closes in progress there.
            _ = await core.hub.onEveryLoop { _ in 0 }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
