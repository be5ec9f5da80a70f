import ChatCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// Why a database call failed, as chatd tells it.
public enum DatabaseError: Error, CustomStringConvertible {
    case timedOut(seconds: Double)
    case unexpected(String)

    public var description: String {
        switch self {
        case let .timedOut(seconds): return "the database did not answer within \(seconds) s"
        case let .unexpected(what): return what
        }
    }
}

/// PostgreSQL through postgres-nio's connection pool, with a deadline on every call.
///
/// A frozen or silently cut database answers nothing and sends no FIN: without a deadline a
/// query would wait forever. At the deadline the caller is answered `timedOut` and the
/// connection the query ran on is closed (the pool makes a new one), so that after a thaw
/// or a reconnect everything goes on without a restart. Nothing here blocks a thread.
final class PostgresPool: Sendable {
    private let client: PostgresClient
    private let logger: Logger
    /// Whether the last call reached the database (for `chatctl status` and the metrics).
    private let reached = Atomic<Bool>(false)
    /// Set when a call failed, cleared when one succeeds. While it is set, calls wait at most
    /// `probeTimeout`: the pool does not fail a request for a connection it cannot make, and
    /// every queued message would otherwise wait out the full deadline in turn.
    private let down = Atomic<Bool>(false)
    static let probeTimeout: Duration = .seconds(1)

    init(url: PostgresURL, group: any EventLoopGroup, logger: Logger, maximumConnections: Int = 8) {
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: url.requireTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = maximumConnections
        let client = PostgresClient(configuration: configuration, eventLoopGroup: group, backgroundLogger: logger)
        self.client = client
        self.logger = logger
    }

    /// Runs the pool until cancelled or, in a service group, until it stops gracefully; its
    /// connections close then and later calls fail.
    func run() async {
        await client.run()
    }

    var isConnected: Bool { reached.load(ordering: .relaxed) }

    /// Runs `query` and collects its rows, or throws `timedOut` after `timeout`.
    func rows(_ query: PostgresQuery, timeout: Duration) async throws -> [PostgresRow] {
        let logger = self.logger
        return try await withConnection(timeout: timeout) { connection in
            var rows: [PostgresRow] = []
            for try await row in try await connection.query(query, logger: logger) { rows.append(row) }
            return rows
        }
    }

    /// Leases a connection for `body`, all within `timeout`: the wait for a connection (none
    /// can be made while the database is frozen) and the queries on it.
    func withConnection<T: Sendable>(
        timeout: Duration,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let client = self.client
        let timeout = down.load(ordering: .relaxed) ? min(timeout, Self.probeTimeout) : timeout
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        do {
            let value = try await FirstOf.run(deadline: timeout, timedOut: DatabaseError.timedOut(seconds: seconds)) {
                try await client.withConnection { connection in
                    // A query already sent cannot be called back: closing its connection ends it.
                    let deadline = connection.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
                        connection.close().whenComplete { _ in }
                    }
                    defer { deadline.cancel() }
                    return try await body(connection)
                }
            }
            reached.store(true, ordering: .relaxed)
            down.store(false, ordering: .relaxed)
            return value
        } catch {
            reached.store(false, ordering: .relaxed)
            down.store(true, ordering: .relaxed)
            if case DatabaseError.timedOut = error {
                logger.warning("the database did not answer within \(seconds) s")
            }
            throw error
        }
    }

    /// A LISTEN connection's configuration: made by the cluster bus itself, outside the
    /// pool, because notifications arrive on the connection that asked for them.
    static func configuration(_ url: PostgresURL, connectTimeout: Double) -> PostgresConnection.Configuration {
        var tls = PostgresConnection.Configuration.TLS.disable
        if url.requireTLS, let context = try? NIOSSLContext(configuration: .makeClientConfiguration()) {
            tls = .require(context)
        }
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user,
            password: url.password, database: url.database, tls: tls)
        configuration.options.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
        return configuration
    }
}

/// The result of `work`, or `timedOut` at the deadline, whichever comes first. Unlike a task
/// group, it does not wait for `work` to notice its cancellation: a request for a pool
/// connection that cannot be made would hold the caller until the pool gives up.
enum FirstOf {
    static func run<T: Sendable>(
        deadline: Duration, timedOut: any Error,
        _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let waiter = NIOLockedValueBox<CheckedContinuation<T, any Error>?>(nil)
        let finish: @Sendable (Result<T, any Error>) -> Void = { result in
            waiter.withLockedValue { w in
                defer { w = nil }
                return w
            }?.resume(with: result)
        }
        return try await withCheckedThrowingContinuation { continuation in
            waiter.withLockedValue { $0 = continuation }
            let task = Task { try await work() }
            let timer = Task {
                guard (try? await Task.sleep(for: deadline)) != nil else { return }
                task.cancel()
                finish(.failure(timedOut))
            }
            Task {
                let result = await task.result
                timer.cancel()
                finish(result)
            }
        }
    }
}
