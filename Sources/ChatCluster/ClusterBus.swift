public import ChatCore
import Dispatch
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import PostgresNIO

/// The cluster's shared channel: one LISTEN connection that is made again, with backoff,
/// whenever it drops (a database restart, a cut, or no echo of this node's own heartbeat
/// within the node timeout); heartbeats that carry this node's member counts; and the
/// peers heard from. Events reach `handler` in arrival order on one serial queue.
public final class ClusterBus: Sendable {
    public let node: String
    private let url: PostgresURL
    private let store: PostgresStore
    private let loop: any EventLoop
    private let logger: Logger
    private let heartbeat: Double
    private let nodeTimeout: Double
    private let queue = DispatchQueue(label: "chatd.cluster")
    private let counts: @Sendable () -> [String: Int]
    private let handler: @Sendable (ClusterEvent) -> Void
    /// Notifications to send, in order, one at a time (presence counts must not overtake
    /// each other). While the database is unreachable the oldest are dropped past
    /// `outboxLimit`: every node corrects itself from the next heartbeat.
    private let outbox: AsyncStream<String>.Continuation
    private let outgoing: AsyncStream<String>
    static let outboxLimit = 4096

    private struct State {
        var listener: PostgresConnection?
        var listening = false
        var stopped = false
        var reconnects = 0
        var failures = 0
        var lastOwnBeat = Date()
        var lag: Double?
        var beat = 0
        var peers: [String: Date] = [:]
        /// Heartbeat parts gathered per peer until its last part: (beat, counts).
        var partial: [String: (Int, [String: Int])] = [:]
        var timer: RepeatedTask?
    }
    private let state = NIOLockedValueBox(State())

    /// Rooms per heartbeat notification: ~50 bytes each keeps a part under NOTIFY's limit.
    static let roomsPerPart = 120

    public init(
        heartbeatSeconds: Double, nodeTimeoutSeconds: Double, url: PostgresURL, node: String, store: PostgresStore, loop: any EventLoop,
        logger: Logger,
        counts: @escaping @Sendable () -> [String: Int], handler: @escaping @Sendable (ClusterEvent) -> Void
    ) {
        self.url = url
        self.node = node
        self.store = store
        self.loop = loop
        self.logger = logger
        heartbeat = heartbeatSeconds
        nodeTimeout = nodeTimeoutSeconds
        self.counts = counts
        self.handler = handler
        (outgoing, outbox) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(Self.outboxLimit))
    }

    public func start() {
        let (outgoing, store, logger) = (self.outgoing, self.store, self.logger)
        Task {
            for await payload in outgoing {
                do {
                    try await store.notify(payload)
                } catch {
                    logger.debug("cluster notification not sent: \(error)")
                }
            }
        }
        connectListener(attempt: 0)
        let task = loop.scheduleRepeatedTask(
            initialDelay: .milliseconds(Int64(heartbeat * 1000)),
            delay: .milliseconds(Int64(heartbeat * 1000))
        ) { [weak self] _ in
            self?.beat()
        }
        state.withLockedValue { $0.timer = task }
    }

    public func stop() {
        let (listener, timer) = state.withLockedValue { s -> (PostgresConnection?, RepeatedTask?) in
            s.stopped = true
            defer { (s.listener, s.timer) = (nil, nil) }
            return (s.listener, s.timer)
        }
        timer?.cancel()
        listener?.close().whenComplete { _ in }
        outbox.finish()
    }

    /// For `chatctl status` and the metrics.
    public var status: ClusterStatus {
        state.withLockedValue { s in
            ClusterStatus(
                node: node, database: url.redacted, databaseConnected: store.isConnected, listening: s.listening,
                lagSeconds: s.lag, reconnects: s.reconnects, peers: s.peers.keys.sorted())
        }
    }

    /// Tells the other nodes; best effort (a node that misses it corrects itself from the
    /// next heartbeat or from the tables).
    public func send(_ event: ClusterEvent) {
        guard var wire = ClusterNotification(event) else { return }
        wire.node = node
        guard let json = try? JSONEncoder().encode(wire) else { return }
        outbox.yield(String(decoding: json, as: UTF8.self))
    }

    // MARK: The listener

    private func connectListener(attempt: Int) {
        if state.withLockedValue({ $0.stopped }) { return }
        let configuration = PostgresPool.configuration(url, connectTimeout: 3)
        let logger = self.logger
        PostgresConnection.connect(on: loop, configuration: configuration, id: 1_000_000 + attempt, logger: logger)
            .flatMap { [weak self] connection -> EventLoopFuture<PostgresConnection> in
                let bus = self
                connection.addListener(channel: PostgresStore.channel) { _, note in bus?.received(note.payload) }
                return connection.query("LISTEN chatd", logger: logger).map { _ in connection }
            }
            .whenComplete { [weak self] result in
                guard let self else { return }
                switch result {
                case let .success(connection):
                    let stopped = state.withLockedValue { s -> Bool in
                        if s.stopped { return true }
                        (s.listener, s.listening, s.failures, s.lastOwnBeat) = (connection, true, 0, Date())
                        return false
                    }
                    if stopped {
                        connection.close().whenComplete { _ in }
                        return
                    }
                    logger.notice("cluster listener connected", metadata: ["database": "\(url.redacted)"])
                    queue.async { self.handler(.resync) }
                    beat()
                    connection.closeFuture.whenComplete { _ in self.lost(connection) }
                case let .failure(error):
                    let failures = state.withLockedValue { s in
                        s.failures += 1
                        return s.failures
                    }
                    if failures == 1 {
                        logger.warning("cluster listener cannot connect: \(error); retrying with backoff")
                    } else {
                        logger.debug("cluster listener cannot connect (try \(failures)): \(error)")
                    }
                    retry(attempt: attempt + 1)
                }
            }
    }

    private func lost(_ connection: PostgresConnection) {
        let current = state.withLockedValue { s -> Bool in
            guard s.listener === connection else { return false }
            (s.listener, s.listening) = (nil, false)
            s.reconnects += 1
            return !s.stopped
        }
        guard current else { return }
        logger.warning("cluster listener lost; reconnecting")
        retry(attempt: 0)
    }

    /// 100 ms doubling to 5 s, with jitter so that nodes do not reconnect in step.
    private func retry(attempt: Int) {
        let base = min(5.0, 0.1 * pow(2, Double(min(attempt, 10))))
        let delay = base * Double.random(in: 0.5...1.0)
        loop.scheduleTask(in: .milliseconds(Int64(delay * 1000))) { [weak self] in self?.connectListener(attempt: attempt) }
    }

    private func received(_ payload: String) {
        let payload = ClusterNotification.head(ofOwnBatch: payload, node: node) ?? payload
        guard let wire = try? JSONDecoder().decode(ClusterNotification.self, from: Data(payload.utf8)) else {
            logger.debug("cluster notification not understood: \(payload.prefix(200))")
            return
        }
        let now = Date()
        if wire.node == node {
            if wire.kind == "h", let at = wire.beatAt {
                state.withLockedValue { s in (s.lastOwnBeat, s.lag) = (now, max(0, now.timeIntervalSince1970 - at)) }
            }
            // Our own messages may still be news (a commit whose answer was lost): by number,
            // read from the table then (`head(ofOwnBatch:)`). The rest was applied here when
            // it was sent.
            if wire.kind == "m", let event = wire.event { queue.async { self.handler(event) } }
            return
        }
        var snapshot: [String: Int]?
        state.withLockedValue { s in
            s.peers[wire.node] = now
            guard wire.kind == "h", let beat = wire.beat else { return }
            var (current, counts) = s.partial[wire.node] ?? (beat, [:])
            if current != beat { (current, counts) = (beat, [:]) }
            counts.merge(wire.counts ?? [:]) { $1 }
            if wire.lastPart == true {
                s.partial[wire.node] = nil
                snapshot = counts
            } else {
                s.partial[wire.node] = (current, counts)
            }
        }
        if let snapshot {
            queue.async { self.handler(.snapshot(node: wire.node, counts: snapshot)) }
        } else if let event = wire.event {
            queue.async { self.handler(event) }
        }
    }

    // MARK: Heartbeats

    /// Sends this node's counts, checks that its own last heartbeat came back, and forgets
    /// peers not heard from within the node timeout.
    private func beat() {
        let now = Date()
        let (number, stale, gone) = state.withLockedValue { s -> (Int, PostgresConnection?, [String]) in
            s.beat += 1
            var stale: PostgresConnection?
            if s.listening, now.timeIntervalSince(s.lastOwnBeat) > nodeTimeout { stale = s.listener }
            let gone = s.peers.filter { now.timeIntervalSince($0.value) > nodeTimeout }.map(\.key)
            for peer in gone {
                s.peers[peer] = nil
                s.partial[peer] = nil
            }
            return (s.beat, stale, gone)
        }
        if let stale {
            logger.warning("cluster listener silent for \(nodeTimeout) s; reconnecting")
            stale.close().whenComplete { _ in }
        }
        for peer in gone {
            logger.notice("cluster node gone", metadata: ["node": "\(peer)"])
            queue.async { self.handler(.nodeGone(node: peer)) }
        }
        let rooms = counts().filter { $0.value > 0 }.sorted { $0.key < $1.key }
        var parts = stride(from: 0, to: rooms.count, by: Self.roomsPerPart).map {
            Array(rooms[$0..<min($0 + Self.roomsPerPart, rooms.count)])
        }
        if parts.isEmpty { parts = [[]] }
        let encoder = JSONEncoder()
        for (index, part) in parts.enumerated() {
            var wire = ClusterNotification(kind: "h", node: node)
            wire.beatAt = now.timeIntervalSince1970
            wire.beat = number
            wire.counts = Dictionary(uniqueKeysWithValues: part.map { ($0.key, $0.value) })
            wire.lastPart = index == parts.count - 1
            guard let json = try? encoder.encode(wire) else { continue }
            outbox.yield(String(decoding: json, as: UTF8.self))
        }
    }
}

/// A cluster node's view: its id, its database connection and its listener.
public struct ClusterStatus: Sendable, Equatable {
    public var node: String
    /// The database URL without its password.
    public var database: String
    public var databaseConnected: Bool
    /// The LISTEN connection is up.
    public var listening: Bool
    /// Seconds this node's last heartbeat took to come back through its listener.
    public var lagSeconds: Double?
    public var reconnects: Int
    /// Other nodes heard from within the node timeout.
    public var peers: [String]
}
