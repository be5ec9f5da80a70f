import Foundation

/// A PostgreSQL connection URL, checked when the configuration loads so that a typo is a
/// config error naming the key, not a failed connection later.
public struct PostgresURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var requireTLS: Bool

    /// `postgres://` or `postgresql://`, a user and a database are required; `sslmode` may be
    /// `disable` (default) or `require`.
    public init?(_ text: String) {
        guard let parts = URLComponents(string: text), let scheme = parts.scheme,
            scheme == "postgres" || scheme == "postgresql",
            let host = parts.host, !host.isEmpty,
            let user = parts.user, !user.isEmpty
        else { return nil }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { return nil }
        var requireTLS = false
        for item in parts.queryItems ?? [] {
            guard item.name == "sslmode" else { return nil }
            switch item.value {
            case "disable": requireTLS = false
            case "require": requireTLS = true
            default: return nil
            }
        }
        self.host = host
        self.port = parts.port ?? 5432
        self.user = parts.user.flatMap { $0.removingPercentEncoding } ?? user
        self.password = parts.password.flatMap { $0.removingPercentEncoding }
        self.database = database.removingPercentEncoding ?? database
        self.requireTLS = requireTLS
    }

    /// For logs and `chatctl status`: no password.
    public var redacted: String {
        "postgres://\(user)@\(host):\(port)/\(database)\(requireTLS ? "?sslmode=require" : "")"
    }
}
