import ChatConfig
import Dispatch
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import PostgresNIO

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

/// One PostgreSQL connection, made when first needed and made again after it closed (a
/// database restart, a network cut). Queries on one slot are pipelined by postgres-nio.
final class PGSlot: Sendable {
    private let configuration: PostgresConnection.Configuration
    private let loop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox<(connection: PostgresConnection?, connecting: EventLoopFuture<PostgresConnection>?)>((nil, nil))
    private let ids = NIOLockedValueBox(0)
    /// How long a blocking call waits before it gives up and drops the connection, so that a
    /// silent network cut is noticed instead of hanging the store queue.
    let timeout: Double

    init(url: PostgresURL, loop: any EventLoop, logger: Logger, timeout: Double = 5) {
        configuration = PGSlot.configuration(url, connectTimeout: min(timeout, 3))
        self.loop = loop
        self.logger = logger
        self.timeout = timeout
    }

    static func configuration(_ url: PostgresURL, connectTimeout: Double) -> PostgresConnection.Configuration {
        var tls = PostgresConnection.Configuration.TLS.disable
        if url.requireTLS, let context = try? NIOSSLContext(configuration: .makeClientConfiguration()) {
            tls = .require(context)
        }
        var configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user,
                                                             password: url.password, database: url.database, tls: tls)
        configuration.options.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
        return configuration
    }

    /// The open connection, or a new one.
    func connection() -> EventLoopFuture<PostgresConnection> {
        let (existing, fresh) = state.withLockedValue { s -> (EventLoopFuture<PostgresConnection>?, EventLoopFuture<PostgresConnection>?) in
            if let c = s.connection, !c.isClosed { return (loop.makeSucceededFuture(c), nil) }
            if let pending = s.connecting { return (pending, nil) }
            let id = ids.withLockedValue { $0 += 1; return $0 }
            let future = PostgresConnection.connect(on: loop, configuration: configuration, id: id, logger: logger)
            s.connection = nil
            s.connecting = future
            return (nil, future)
        }
        if let existing { return existing }
        let future = fresh!
        future.whenComplete { [state] result in
            state.withLockedValue { s in
                s.connecting = nil
                if case let .success(connection) = result { s.connection = connection }
            }
        }
        return future
    }

    /// Runs `query`; one that has no answer within `timeout` closes its connection (a
    /// silent network cut sends no FIN or RST: without this its queries wait forever).
    func query(_ query: PostgresQuery) -> EventLoopFuture<[PostgresRow]> {
        let (logger, timeout) = (self.logger, self.timeout)
        return connection().flatMap { connection in
            let answer = connection.query(query, logger: logger)
            let watchdog = connection.eventLoop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
                logger.warning("the database did not answer within \(timeout) s; dropping the connection")
                connection.close().whenComplete { _ in }
            }
            answer.whenComplete { _ in watchdog.cancel() }
            return answer
        }.map { $0.rows }
    }

    /// Runs `query` and waits for its rows, on a thread that is not this slot's event loop.
    func run(_ query: PostgresQuery) throws -> [PostgresRow] {
        try block(self.query(query))
    }

    /// Waits for `future`; the query's own timeout ends it, this one (a little longer) covers
    /// a connection attempt that hangs.
    func block<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        precondition(!loop.inEventLoop, "a blocking database call on the database's own event loop")
        let done = DispatchSemaphore(value: 0)
        let result = NIOLockedValueBox<Result<T, any Error>?>(nil)
        future.whenComplete { r in
            result.withLockedValue { $0 = r }
            done.signal()
        }
        if done.wait(timeout: .now() + .milliseconds(Int(timeout * 1000) + 1000)) == .timedOut {
            drop()
            throw DatabaseError.timedOut(seconds: timeout)
        }
        return try result.withLockedValue { $0! }.get()
    }

    /// Closes the connection (if any); the next call reconnects.
    func drop() {
        let connection = state.withLockedValue { s -> PostgresConnection? in
            defer { s.connection = nil }
            return s.connection
        }
        connection?.close().whenComplete { _ in }
    }

    var isConnected: Bool {
        state.withLockedValue { s in s.connection.map { !$0.isClosed } ?? false }
    }
}
