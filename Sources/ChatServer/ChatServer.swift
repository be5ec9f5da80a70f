public import ChatConfig
public import ChatControl
public import ChatCore
import ChatAuth
import ChatCluster
import ChatStore
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
public import NIOPosix
import NIOWebSocket
public import ServiceLifecycle
import Synchronization
public import Systemd

/// What every connection's handlers share: settings, the hub, the page, the logger.
final class ServerCore: Sendable {
    let settings: SettingsBox
    let hub: Hub
    let logger: Logger
    let metrics: ChatMetrics
    let moderation: Moderation
    let limits = ClientLimits()
    private let siteBox: NIOLockedValueBox<StaticSite>
    /// False until the listeners are up, and again once draining starts (for /readyz).
    let ready = Atomic<Bool>(false)
    /// True once a graceful stop began: new upgrades get 503. (A connection accepted while
    /// starting is served: socket activation hands chatd its first client before `ready`.)
    let draining = Atomic<Bool>(false)

    var site: StaticSite { siteBox.withLockedValue { $0 } }
    func replaceSite(_ site: StaticSite) { siteBox.withLockedValue { $0 = site } }

    init(settings: Settings, hub: Hub, site: StaticSite, logger: Logger, metrics: ChatMetrics) {
        self.settings = SettingsBox(settings)
        self.hub = hub
        self.siteBox = NIOLockedValueBox(site)
        self.logger = logger
        self.metrics = metrics
        self.moderation = Moderation(hub: hub, logger: logger)
    }

    /// A room publishes into when the configuration names it or it is in use; anything else
    /// is most likely a typo, which a 404 shows at once. `done` is told once the event is in
    /// history (and so has its number), or that it could not be stored.
    func publish(_ request: PublishRequest, from: String, done: @escaping @Sendable (Result<ChatMessage, PublishRefusal>) -> Void) {
        let current = settings.current
        guard current.rules.isConfigured(request.room) || hub.existingRoom(request.room) != nil else {
            // Only this request waits for the store to say whether the room has history.
            Task { [self] in
                guard await hub.roomExists(request.room) else { return done(.failure(.unknownRoom(request.room))) }
                publishKnown(request, from: from, settings: current, done: done)
            }
            return
        }
        publishKnown(request, from: from, settings: current, done: done)
    }

    private func publishKnown(_ request: PublishRequest, from: String, settings current: Settings,
                              done: @escaping @Sendable (Result<ChatMessage, PublishRefusal>) -> Void) {
        let metrics = self.metrics
        hub.publish(room: request.room, from: from, text: request.text, author: "server:\(from)",
                    data: request.data, historyWindow: current.historyWindow, maxRooms: current.maxRooms) { result in
            switch result {
            case let .success(message):
                metrics.published.increment()
                done(.success(message))
            case .failure(Hub.RoomRefusal.full):
                done(.failure(.unavailable("this server holds limits.max_rooms rooms; nothing was published")))
            case .failure:
                done(.failure(.unavailable("the history store is unavailable; nothing was published")))
            }
        }
    }

    func publish(_ request: PublishRequest, from: String) async -> Result<ChatMessage, PublishRefusal> {
        await withCheckedContinuation { continuation in
            publish(request, from: from) { continuation.resume(returning: $0) }
        }
    }

    /// What another node asks of this one: moderation here, the rest in the hub.
    func apply(_ event: ClusterEvent) {
        switch event {
        case let .kick(_, name, reason):
            Task { [hub] in _ = await hub.onEveryLoop { $0.kick(connection: nil, user: name, reason: reason) } }
        case let .mute(_, name, until):
            moderation.applyMute(name, until: until ?? .infinity)
        case let .unmute(_, name):
            moderation.applyMute(name, until: nil)
        default:
            hub.apply(event)
        }
    }
}

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
    private let channels = NIOLockedValueBox<[String: [any Channel]]>([:])
    private let state: NIOLockedValueBox<RuntimeState>
    private let reloadQueue = DispatchQueue(label: "chatd.reload")
    private let controlPath = NIOLockedValueBox<String?>(nil)
    private let retention: RetentionJob
    private let sqlite: SQLiteStore?
    private let lifetime = NIOLockedValueBox<Lifetime?>(nil)
    /// A drain time given to `shutdown(drain:)`, in place of `server.drain_seconds`.
    private let drainOverride = NIOLockedValueBox<Duration?>(nil)
    /// In a cluster: the database's own event loop (its connections' work never delays a
    /// chat loop), the store, and the bus to the other nodes.
    private let databaseGroup: MultiThreadedEventLoopGroup?
    private let postgres: PostgresStore?
    private let bus: ClusterBus?

    /// The running service group and the task that stops the event loops once it is done.
    struct Lifetime {
        let group: ServiceGroup
        let finished: Task<Result<Void, any Error>, Never>
    }

    struct RuntimeState {
        var config: Config
        var generation = 1
        var lastReload: ReloadResult?
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
            logger.warning("auth.tokens/auth.moderator_tokens hold plain tokens: for development only; store SHA-256 hashes in [auth.credentials.NAME]")
        }
        core = ServerCore(settings: settings,
                          hub: try Hub(loops: Array(group.makeIterator()), metrics: metrics, store: store),
                          site: site, logger: logger, metrics: metrics)
        state = NIOLockedValueBox(RuntimeState(config: config))
        retention = RetentionJob(hub: core.hub, settings: core.settings, logger: logger)
        if let cluster, let databaseGroup {
            let (hub, core) = (core.hub, core)
            let bus = ClusterBus(config: config.cluster, url: cluster.url, node: cluster.node, store: cluster.store,
                                 loop: databaseGroup.next(), logger: logger, counts: { hub.localCounts() },
                                 handler: { core.apply($0) })
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
    @discardableResult
    public func startAll(with host: [any Service] = []) async throws -> Bound {
        let config = state.withLockedValue { $0.config }
        let (store, doors) = lifecycle()
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: (host + store).map { .init(service: $0) }, logger: core.logger))
        let finished = Task<Result<Void, any Error>, Never> { [self] in
            var outcome: Result<Void, any Error> = .success(())
            do {
                try await group.run()
            } catch {
                core.logger.error("a part of chatd failed: \(error)")
                outcome = .failure(error)
            }
            try? await self.stopLoops()
            return outcome
        }
        lifetime.withLockedValue { $0 = Lifetime(group: group, finished: finished) }

        if let postgres, let url = config.cluster.database {
            do {
                try await ClusterNode.connect(url: url, patience: options.databaseStartPatience, logger: core.logger,
                                              notify: options.notify) { try await postgres.migrate() }
            } catch {
                throw ClusterStartError(database: url.redacted, reason: "\(String(reflecting: error))")
            }
            core.logger.notice("history store", metadata: ["database": "\(url.redacted)", "node": "\(bus?.node ?? "")"])
        }
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
        let keeper = Housekeeper(server: self, watchdog: options.watchdog, notify: options.notify)
        doors.append(Part("housekeeper", start: { keeper.start() }, stop: { keeper.stop() }))
        doors.append(Part("control socket", stop: { [self] in
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
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
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
        let wait = drainOverride.withLockedValue { $0 }
            ?? .milliseconds(Int64(state.withLockedValue { $0.config.server.drainSeconds } * 1000))
        core.ready.store(false, ordering: .relaxed)
        core.draining.store(true, ordering: .relaxed)
        options.notify?("STOPPING=1\nSTATUS=draining \(connectionCount) connections")
        await closeDoor("chat")
        await core.hub.flush()
        await core.hub.closeAll(code: .goingAway, reason: "server shutting down")
        await waitForConnections(until: ContinuousClock.now + wait)
    }

    private func stopLoops() async throws {
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

    // MARK: Reload

    /// Re-reads the config file and applies it atomically, or keeps the old one and says why.
    /// Reloads are serialised; SIGHUP and `chatctl reload` both come here.
    public func reload() async -> ReloadResult {
        let loaded: Result<Config, ConfigError>
        do {
            loaded = .success(try ConfigLoader.load(path: options.configPath, environment: options.environment))
        } catch {
            loaded = .failure(error)
        }
        return await reload(to: loaded)
    }

    /// Applies `config` as a reload would (tests use this to skip the file).
    public func reload(to config: Result<Config, ConfigError>) async -> ReloadResult {
        await withCheckedContinuation { continuation in
            reloadQueue.async { [self] in
                continuation.resume(returning: applyReload(config))
            }
        }
    }

    private func applyReload(_ loaded: Result<Config, ConfigError>) -> ReloadResult {
        options.notify?(Systemd.reloadingMessage())
        defer { options.notify?("READY=1\n\(statusLine())") }
        let now = Date().timeIntervalSince1970
        let (old, generation) = state.withLockedValue { ($0.config, $0.generation) }
        let config: Config
        switch loaded {
        case let .failure(error):
            return fail(now: now, generation: generation, error: error.description)
        case let .success(c):
            // The loader has checked a file's config; one handed in otherwise is checked here,
            // because a value outside its range must never reach the running server.
            do {
                try ConfigLoader.validate(c, file: options.configPath ?? "(built-in defaults)")
            } catch {
                return fail(now: now, generation: generation, error: error.description)
            }
            config = c
        }
        let diff = ConfigDiff.between(old, config)
        // The page is part of the configuration: re-read it, and refuse the reload if it is gone.
        let site: StaticSite
        do {
            site = try StaticSite(root: config.server.webRoot ?? options.defaultWebRoot)
        } catch {
            return fail(now: now, generation: generation, error: "server.web_root: cannot read the page: \(error)")
        }
        // Restart-only settings keep their running values, so status and later diffs stay true.
        let effective = config.keepingRestartOnlyKeys(from: old)
        let settings: Settings
        do {
            settings = try Settings(effective)
        } catch {
            return fail(now: now, generation: generation, error: "auth.jwt.key_file: \(error)")
        }
        if settings.authenticator.hasPlainTokens {
            core.logger.warning("auth.tokens/auth.moderator_tokens hold plain tokens: for development only; store SHA-256 hashes in [auth.credentials.NAME]")
        }
        core.replaceSite(site)
        core.settings.replace(with: settings)
        if old.history.window != config.history.window { core.hub.resizeHistory(to: config.history.window) }
        let revoked = core.hub.shards.reduce(0) { total, ref in
            total + ((try? ref.loop.submit { ref.shard.value.apply(settings) }.wait()) ?? 0)
        }
        let result = ReloadResult(ok: true, at: now, generation: generation + 1, error: nil,
                                  applied: diff.applied, needsRestart: diff.needsRestart, revoked: revoked)
        state.withLockedValue {
            $0.config = effective
            $0.generation += 1
            $0.lastReload = result
        }
        core.metrics.reloads("ok").increment()
        core.logger.notice("configuration reloaded", metadata: [
            "generation": "\(result.generation)", "applied": "\(diff.applied.joined(separator: ","))",
            "needs_restart": "\(diff.needsRestart.joined(separator: ","))", "revoked": "\(revoked)",
        ])
        for key in diff.needsRestart {
            core.logger.warning("\(key) changed; it takes effect when chatd restarts")
        }
        return result
    }

    private func fail(now: Double, generation: Int, error: String) -> ReloadResult {
        let result = ReloadResult(ok: false, at: now, generation: generation, error: error, applied: [], needsRestart: [], revoked: 0)
        state.withLockedValue { $0.lastReload = result }
        core.metrics.reloads("failed").increment()
        core.logger.error("reload failed, keeping the running configuration: \(error)")
        return result
    }

    // MARK: Reports

    public func status() -> StatusInfo {
        let s = state.withLockedValue { $0 }
        return StatusInfo(
            version: options.version, pid: getpid(), uptimeSeconds: Date().timeIntervalSince(s.started),
            configPath: options.configPath, configGeneration: s.generation, connections: connectionCount,
            rooms: core.hub.roomInfos().filter { $0.online > 0 }.count,
            messagesIn: core.hub.messagesIn.load(ordering: .relaxed), messagesOut: core.hub.framesOut.load(ordering: .relaxed),
            ready: core.ready.load(ordering: .relaxed), lastReload: s.lastReload,
            cluster: bus?.status)
    }

    /// The `STATUS=` line for systemd.
    func statusLine() -> String {
        let rooms = core.hub.roomInfos().filter { $0.online > 0 }.count
        let generation = state.withLockedValue { $0.generation }
        // The housekeeper keeps this line current during a drain too (it stops after the chat door).
        let draining = core.draining.load(ordering: .relaxed) ? "draining: " : ""
        return "STATUS=\(draining)\(connectionCount) connections, \(rooms) rooms, config generation \(generation)"
    }

    public func connections(room: String?) async -> [ConnectionInfo] {
        await core.hub.onEveryLoop { $0.connections(room: room) }.flatMap { $0 }.sorted { $0.connectedSeconds > $1.connectedSeconds }
    }

    public func rooms() -> [RoomInfo] { core.hub.roomInfos() }

    /// Closes matching connections with 1008 and `reason`; returns how many.
    public func kick(connection: String?, user: String?, reason: String) async -> Int {
        let count = await core.hub.onEveryLoop { $0.kick(connection: connection, user: user, reason: reason) }.reduce(0, +)
        // A user may be connected to other nodes too; connection ids are this node's own.
        if let user, connection == nil { core.hub.tellCluster(.kick(node: "", name: user, reason: reason)) }
        core.logger.notice("kick", metadata: ["connection": "\(connection ?? "-")", "user": "\(user ?? "-")", "closed": "\(count)"])
        return count
    }

    // MARK: Server push

    /// Sends an event to a room as the server (`POST /api/publish`, `chatctl publish`): it
    /// follows the room's history and slow-consumer rules like any message.
    public func publish(_ request: PublishRequest, from: String) async -> Result<ChatMessage, PublishRefusal> {
        await core.publish(request, from: from)
    }

    /// `limits.max_message_chars` in force, for publishers outside the HTTP path.
    var maxMessageChars: Int { core.settings.current.maxMessageChars }

    // MARK: Moderation

    /// Deletes a message as an operator; members get `deleted`.
    public func deleteMessage(room: String, seq: UInt64, actor: String, reason: String) async -> Result<Void, ControlError> {
        switch await core.moderation.delete(room: room, seq: seq, actor: actor, reason: reason, allowed: { _ in true }) {
        case .deleted: return .success(())
        case .notFound, .forbidden: return .failure(ControlError(code: "not_found", message: "no message \(seq) in room \(room)"))
        case let .failed(why): return .failure(ControlError(code: "failed", message: why))
        }
    }

    public func mute(user: String, seconds: Double?, actor: String, reason: String) async {
        await core.moderation.mute(user, seconds: seconds, actor: actor, reason: reason)
    }

    /// How many connections of this node answer to the identity `user` (`UserTarget`).
    public func connectionCount(user: String) async -> Int {
        await core.hub.onEveryLoop { $0.count(user: user) }.reduce(0, +)
    }

    public func unmute(user: String, actor: String, reason: String) async -> Bool {
        await core.moderation.unmute(user, actor: actor, reason: reason)
    }

    public func purge(user: String, actor: String, reason: String) async -> Result<Int, ControlError> {
        await core.moderation.purge(sender: user, actor: actor, reason: reason)
    }

    /// Runs the retention job now (it also runs every `retention.interval_seconds`);
    /// returns how many messages expired.
    @discardableResult
    public func expireHistory() async -> Int { await retention.runNow() }

    public func auditLog(since: Double, limit: Int = 10_000) async -> [AuditEntry] {
        await core.moderation.auditLog(since: since, limit: limit)
    }

    /// Prometheus text exposition of every metric.
    public func metricsText() -> String { String(decoding: core.metrics.text(), as: UTF8.self) }

    // MARK: Pipelines

    private func chatBootstrap() -> ServerBootstrap {
        let core = self.core
        // Refusals at accept are counted from the start, at zero, so dashboards see them.
        for reason in [ClientLimits.PendingRefusal.perAddress, .total] { core.refusedAtAccept(reason, count: 0) }
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // Each connection keeps its last receive buffer for reuse; chat frames are small,
            // so start at 256 bytes (it grows with traffic) rather than NIO's 2048: idle
            // connections then cost ~1.5 KiB less each (chatbench idle).
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, core: core)
                }
            }
    }

    private func metricsBootstrap() -> ServerBootstrap {
        let core = self.core
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let settings = core.settings.current
                    try channel.syncOptions?.setOption(.writeBufferWaterMark, value: settings.sendBuffer)
                    let state = ConnectionState()
                    state.armIdleTimer(channel: channel, timeout: settings.handshakeTimeout)
                    let ops = channel.pipeline.syncOperations
                    try ops.configureHTTPServerPipeline(withErrorHandling: true)
                    try ops.addHandler(MetricsHandler(metrics: core.metrics, state: state))
                    // A scrape costs far more than a static file: a few per event-loop turn.
                    state.pacer = core.hub.pacer(of: channel.eventLoop)
                    let gate = HTTPReadGate(sliceBytes: 256, pacer: state.pacer)
                    gate.downstreamBusy = { state.busy }
                    state.gate = gate
                    try ops.addHandler(gate, position: .first)
                    channel.closeFuture.whenComplete { _ in state.release() }
                }
            }
    }

    /// A new chat connection's pipeline: the read gate, NIO's HTTP server handlers with the
    /// WebSocket upgrader, and chatd's HTTP handler. Over the pending caps
    /// (`limits.max_pending_connections`, `limits.max_pending_per_ip`) it is closed at once.
    private static func configure(_ channel: any Channel, core: ServerCore) throws {
        let settings = core.settings.current
        let peer = channel.remoteAddress?.ipAddress ?? "?"
        // A trusted proxy carries many clients on its one address: only the total caps it.
        let capped = !settings.trustedProxies.isTrusted(peer)
        if let refused = core.limits.admitPending(peer: peer, capped: capped, settings: settings,
                                                  now: NIODeadline.now().uptimeNanoseconds) {
            core.refusedAtAccept(refused)
            throw PendingLimitReached(reason: refused)
        }
        let state = ConnectionState()
        state.pendingPeer = peer
        channel.closeFuture.whenComplete { _ in
            state.endPending(core.limits)
            state.release()
        }
        try channel.syncOptions?.setOption(.writeBufferWaterMark, value: settings.sendBuffer)
        state.armIdleTimer(channel: channel, timeout: settings.handshakeTimeout)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: settings.maxFrameBytes,
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                // Each request of a kept-alive connection is decided afresh. The gate hands
                // on nothing more until the upgrade is done or refused (a GET's end is parsed
                // with its head); the idle clock runs on until the upgrade is done.
                state.newRequest()
                state.busy = true
                let current = core.settings.current
                let decision = current.gate.decide(UpgradeGate.Request(head))
                switch decision {
                case .accept, .reject(status: 401, _), .reject(status: 403, _):
                    // Every attempt on /chat counts against its address, refused ones too,
                    // which is what slows token guessing.
                    state.address = current.trustedProxies.clientAddress(
                        peer: channel.remoteAddress?.ipAddress ?? "?", forwardedFor: head.headers["x-forwarded-for"])
                    state.refusal = core.limits.admit(address: state.address, total: core.hub.connections.load(ordering: .relaxed),
                                                      settings: current, now: NIODeadline.now().uptimeNanoseconds)
                default:
                    break
                }
                guard state.refusal == nil, case let .accept(attempt) = decision, !attempt.echo || current.echoEnabled,
                      !core.draining.load(ordering: .relaxed)
                else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                let authenticator = current.authenticator
                if let identity = authenticator.staticIdentity(attempt.credential) {
                    return channel.eventLoop.makeSucceededFuture(Self.admit(attempt, .success(identity), settings: current, state: state))
                }
                guard authenticator.mayBeJWT(attempt.credential) else {
                    return channel.eventLoop.makeSucceededFuture(Self.admit(attempt, .failure(.unknownToken), settings: current, state: state))
                }
                // A JWT: its signature is checked in a task, off the event loop.
                let promise = channel.eventLoop.makePromise(of: Result<Identity, AuthFailure>.self)
                promise.completeWithTask { await authenticator.identify(attempt.credential) }
                return promise.futureResult.map { Self.admit(attempt, $0, settings: current, state: state) }
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let current = core.settings.current
                    guard let session = state.session else { throw ChannelError.inappropriateOperationForState }
                    // chatd encodes its own server frames (once per broadcast) and writes them
                    // through a sink at the socket end of the pipeline.
                    let ops = channel.pipeline.syncOperations
                    let sink = FrameSink()
                    try ops.addHandler(sink, position: .first)
                    state.upgraded()
                    state.endPending(core.limits)
                    try ops.addHandler(ChatSession(session: session, address: state.address, hub: core.hub,
                                                   moderation: core.moderation, limits: core.limits, settings: current, sink: sink))
                    // The gate leaves last: what it still holds (frames sent right behind the
                    // upgrade request) goes on to the frame decoder, in order.
                    if let gate = state.gate {
                        state.gate = nil
                        ops.removeHandler(gate, promise: nil)
                    }
                    core.metrics.upgrades("accepted").increment()
                    core.logger.debug("websocket open", metadata: ["room": "\(session.room)", "name": "\(session.name)"])
                }
            }
        )
        let completion: @Sendable (ChannelHandlerContext) -> Void = { context in
            _ = context.pipeline.syncOperations.removeHandler(name: HTTPHandler.name)
        }
        let ops = channel.pipeline.syncOperations
        try ops.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: completion),
            withErrorHandling: true,
            withOutboundHeaderValidation: true,
            withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: settings.decoderLimits
        )
        // What a later upgrader needs: the handlers NIO's first one removes when it upgrades.
        let encoder = try ops.handler(type: HTTPResponseEncoder.self)
        let extra: [any RemovableChannelHandler] = [
            try ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self),
            try ops.handler(type: HTTPServerPipelineHandler.self),
            try ops.handler(type: NIOHTTPResponseHeadersValidator.self),
            try ops.handler(type: HTTPServerProtocolErrorHandler.self),
        ]
        let http = HTTPHandler(server: core, state: state)
        try ops.addHandler(http, name: HTTPHandler.name)
        state.armUpgrade = { [weak http] in
            guard let http else { return }
            // NIO's upgrade handler leaves after the first request; each later request of a
            // kept-alive connection gets a fresh one, in front of the HTTP handler.
            guard (try? ops.context(handlerType: HTTPServerUpgradeHandler.self)) == nil else { return }
            try? ops.addHandler(HTTPServerUpgradeHandler(upgraders: [upgrader], httpEncoder: encoder, extraHTTPHandlers: extra,
                                                         upgradeCompletionHandler: completion),
                                position: .before(http))
        }
        state.pacer = core.hub.pacer(of: channel.eventLoop)
        let gate = HTTPReadGate(pacer: state.pacer)
        gate.downstreamBusy = { state.busy }
        gate.sliceStarted = { state.answeredThisSlice = false }
        state.gate = gate
        try ops.addHandler(gate, position: .first)
    }

    /// The upgrader's answer once the credential is resolved: headers to upgrade with (the
    /// chosen subprotocol), or nil with the refusal left for the HTTP handler to send.
    private static func admit(_ attempt: UpgradeGate.Attempt, _ identified: Result<Identity, AuthFailure>,
                              settings: Settings, state: ConnectionState) -> HTTPHeaders? {
        let admitted: UpgradeGate.Decision<UpgradeGate.Session> = switch identified {
        case let .success(identity): UpgradeGate.admit(attempt, as: identity, rule: settings.rules.rule(for: attempt.room))
        case let .failure(failure): .reject(status: 401, reason: failure.reason)
        }
        switch admitted {
        case let .accept(session):
            state.session = session
            var headers = HTTPHeaders()
            if attempt.subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: UpgradeGate.subprotocol) }
            return headers
        case let .reject(status, reason):
            state.rejection = (status, reason)
            return nil
        }
    }
}
