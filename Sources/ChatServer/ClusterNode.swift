import Foundation

/// This node's default id: its host name, cut to what a node id may hold.
enum ClusterNode {
    static func defaultID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
        let kept = String(host.unicodeScalars.filter { ("a"..."z").contains($0) || ("A"..."Z").contains($0)
                || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }.prefix(32))
        return kept.isEmpty ? "node" : kept
    }
}

/// chatd cannot start as a cluster node: the database is unreachable or refused it.
struct ClusterStartError: Error, CustomStringConvertible {
    let database: String
    let reason: String

    var description: String { "cannot use the cluster database \(database): \(reason)" }
}
