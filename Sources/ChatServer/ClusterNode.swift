import ChatCore
import Foundation
import Logging

/// This node's default id: its host name, cut to what a node id may hold.
enum ClusterNode {
    static func defaultID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
        let kept = String(
            host.unicodeScalars.filter {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0)
                    || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            }.prefix(32))
        return kept.isEmpty ? "node" : kept
    }

    /// Prepares the store, trying again with backoff (0.2 s doubling to 5 s) for `patience`,
    /// and telling systemd why the start takes long.
    static func connect(
        url: PostgresURL, patience: Duration, logger: Logger, notify: (@Sendable (String) -> Void)?,
        _ make: () async throws -> Void
    ) async throws {
        let deadline = ContinuousClock.now + patience
        var delay = 0.2
        while true {
            do {
                return try await make()
            } catch {
                // A stop asked for while waiting: no further attempt.
                if Task.isCancelled { throw CancellationError() }
                guard ContinuousClock.now + .milliseconds(Int64(delay * 1000)) < deadline else { throw error }
                logger.warning("cluster database \(url.redacted) unreachable; trying again in \(delay) s: \(error)")
                notify?("STATUS=waiting for the database \(url.redacted)")
                try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
                delay = min(delay * 2, 5)
            }
        }
    }
}

/// chatd cannot start as a cluster node: the database is unreachable or refused it.
public struct ClusterStartError: Error, CustomStringConvertible {
    let database: String
    let reason: String

    public var description: String { "cannot use the cluster database \(database): \(reason)" }
}
