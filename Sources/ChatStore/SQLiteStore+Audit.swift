public import ChatCore
import GRDB

// MARK: The audit log

extension SQLiteStore {
    public func audit(_ entry: AuditEntry) async throws {
        let routes = self.routes.withLock { $0 }
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO audit (at, actor, action, target, reason) VALUES (?, ?, ?, ?, ?)",
                arguments: [entry.at, entry.actor, entry.action, entry.target, entry.reason])
            try Self.outbox([WebhookEvent.moderation(entry)], routes: routes, db)
        }
    }

    public func auditLog(since: Double, limit: Int) async throws -> [AuditEntry] {
        try await pool.read { db in
            try Self.auditEntries(db, sql: "SELECT * FROM audit WHERE at >= ? ORDER BY id LIMIT ?", arguments: [since, limit])
        }
    }

    /// The newest `limit` entries, oldest first (the admin console filters these).
    public func recentAudit(limit: Int) async throws -> [AuditEntry] {
        try await pool.read { db in
            try Self.auditEntries(
                db, sql: "SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id", arguments: [max(limit, 0)])
        }
    }

    public func expireAudit(before: Double, batch: Int) async throws -> Int {
        try await pool.write { db in
            // By the `at` index, oldest first, so a batch is a short transaction beside the
            // message commits however large the backlog.
            try db.execute(
                sql: "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY at LIMIT ?)",
                arguments: [before, max(batch, 0)])
            return db.changesCount
        }
    }

    private static func auditEntries(_ db: Database, sql: String, arguments: StatementArguments) throws -> [AuditEntry] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            AuditEntry(at: row["at"], actor: row["actor"], action: row["action"], target: row["target"], reason: row["reason"])
        }
    }
}
