public import ChatCore
import PostgresNIO

/// Mutes and bans in PostgreSQL (`chatd_restrictions`), shared by every node: a node that
/// starts, or whose listener missed notifications, reads them here.
extension PostgresStore {
    /// Run by `migrate` under its lock; idempotent, so an existing database gains the table.
    static let restrictionTable: PostgresQuery = """
        CREATE TABLE IF NOT EXISTS chatd_restrictions (
            kind text NOT NULL, target text NOT NULL, until double precision, actor text NOT NULL,
            reason text NOT NULL, created_at double precision NOT NULL, PRIMARY KEY (kind, target))
        """

    public func setRestriction(_ r: Restriction) async throws {
        _ = try await write(
            """
            INSERT INTO chatd_restrictions (kind, target, until, actor, reason, created_at)
            VALUES (\(r.kind.rawValue), \(r.target), \(r.until), \(r.actor), \(r.reason), \(r.createdAt))
            ON CONFLICT (kind, target) DO UPDATE SET
                until = excluded.until, actor = excluded.actor, reason = excluded.reason, created_at = excluded.created_at
            """)
    }

    public func removeRestriction(kind: Restriction.Kind, target: String, now: Double) async throws -> Bool {
        let rows = try await write(
            """
            DELETE FROM chatd_restrictions WHERE kind = \(kind.rawValue) AND target = \(target)
            RETURNING coalesce(until > \(now), true)
            """)
        return try rows.first?.decode(Bool.self) ?? false
    }

    public func restrictions(now: Double) async throws -> [Restriction] {
        // Every node may clean up at once; a row another deleted is simply gone.
        _ = try await write("DELETE FROM chatd_restrictions WHERE until <= \(now)")
        return try await read(
            """
            SELECT kind, target, until, actor, reason, created_at FROM chatd_restrictions
            WHERE until IS NULL OR until > \(now) ORDER BY kind, target
            """
        ).compactMap { row in
            let (kind, target, until, actor, reason, createdAt) = try row.decode((String, String, Double?, String, String, Double).self)
            // A kind a newer chatd wrote is not this one's to enforce.
            return Restriction.Kind(rawValue: kind).map {
                Restriction(kind: $0, target: target, until: until, actor: actor, reason: reason, createdAt: createdAt)
            }
        }
    }
}
