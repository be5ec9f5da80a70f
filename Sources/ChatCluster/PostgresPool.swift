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
    /// Where the calls' deadlines are kept.
    private let timers: any EventLoop
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
        timers = group.any()
    }

    /// Runs the pool until cancelled or, in a service group, until it stops gracefully; its
    /// connections close then and later calls fail.
    func run() async {
        await client.run()
    }

    var isConnected: Bool { reached.load(ordering: .relaxed) }

    /// Runs `query` and collects its rows, or throws `timedOut` after `timeout`.
    func rows(_ query: PostgresQuery, timeout: Duration) async throws -> [PostgresRow] {
        let collected = NIOLockedValueBox<[PostgresRow]>([])
        try await rows([query], timeout: timeout) { _, rows in collected.withLockedValue { $0 = rows } }
        return collected.withLockedValue { $0 }
    }

    /// Runs `queries` one after another on one connection, all within `timeout`, and hands
    /// each one's rows to `each` as soon as it has them: a caller told of a failure knows
    /// which queries went through. One lease for all of them, not one per query (a commit
    /// batch holds a statement per room; leasing each cost a cluster ~10 % of its messages/s).
    func rows(
        _ queries: [PostgresQuery], timeout: Duration,
        each: @escaping @Sendable (Int, [PostgresRow]) throws -> Void
    ) async throws {
        let logger = self.logger
        try await withConnection(timeout: timeout) { connection in
            for (index, query) in queries.enumerated() {
                // Past the deadline the caller has been told which queries went through: no
                // further one may start (its messages would be stored yet reported lost).
                try Task.checkCancellation()
                var rows: [PostgresRow] = []
                for try await row in try await connection.query(query, logger: logger) { rows.append(row) }
                try each(index, rows)
            }
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
        // One deadline for the wait and the queries: counted from now, not from the lease.
        let end = NIODeadline.now() + TimeAmount(timeout)
        do {
            let value = try await FirstOf.run(deadline: timeout, on: timers, timedOut: DatabaseError.timedOut(seconds: seconds)) {
                try await client.withConnection { connection in
                    // A query already sent cannot be called back: closing its connection ends it.
                    let deadline = connection.eventLoop.scheduleTask(deadline: end) {
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
/// connection that cannot be made would hold the caller until the pool gives up. The
/// deadline is an event loop's timer, not a sleeping task: this runs for every commit.
enum FirstOf {
    static func run<T: Sendable>(
        deadline: Duration, on loop: any EventLoop, timedOut: any Error,
        _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let state = NIOLockedValueBox<(waiter: CheckedContinuation<T, any Error>?, timer: Scheduled<Void>?)>((nil, nil))
        let finish: @Sendable (Result<T, any Error>) -> Void = { result in
            let (waiter, timer) = state.withLockedValue { s in
                defer { s = (nil, nil) }
                return s
            }
            timer?.cancel()
            waiter?.resume(with: result)
        }
        return try await withCheckedThrowingContinuation { continuation in
            state.withLockedValue { $0.waiter = continuation }
            let task = Task {
                let result: Result<T, any Error>
                do { result = .success(try await work()) } catch { result = .failure(error) }
                finish(result)
            }
            let timer = loop.scheduleTask(in: TimeAmount(deadline)) {
                task.cancel()
                finish(.failure(timedOut))
            }
            let finished = state.withLockedValue { s -> Bool in
                if s.waiter == nil { return true }
                s.timer = timer
                return false
            }
            if finished { timer.cancel() }
        }
    }
}

extension TimeAmount {
    /// `duration`, clamped to what a TimeAmount holds.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(Int64(Int(seconds).saturatingMultiply(1_000_000_000).saturatingAdd(Int(attoseconds / 1_000_000_000))))
    }
}
