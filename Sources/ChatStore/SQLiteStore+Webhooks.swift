public import ChatCore
import Foundation
import GRDB

/// The webhook outbox in SQLite (`webhook_outbox`, migration v5): events wait here, one row
/// per hook, from the transaction of the change behind them until delivered or failed.
extension SQLiteStore {
    /// Writes `events` into the outbox, one row per hook that takes each.
    static func outbox(_ events: [WebhookEvent], routes: WebhookRoutes, _ db: Database) throws {
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO webhook_outbox (hook, event_id, type, room, body, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
        for event in events {
            for hook in routes.hooks(for: event.type, room: event.room) {
                try insert.execute(arguments: [hook, event.id, event.type.rawValue, event.room, event.body, event.at, event.at])
            }
        }
    }

    public func setWebhookRoutes(_ routes: WebhookRoutes) { self.routes.withLock { $0 = routes } }

    public func enqueueWebhooks(_ events: [WebhookEvent]) async throws {
        let routes = self.routes.withLock { $0 }
        guard events.contains(where: { !routes.hooks(for: $0.type, room: $0.room).isEmpty }) else { return }
        try await pool.write { db in try Self.outbox(events, routes: routes, db) }
    }

    public func claimWebhooks(hooks: [String], now: Double, leaseSeconds: Double, limit: Int) async throws -> [WebhookDelivery] {
        guard !hooks.isEmpty, limit > 0 else { return [] }
        return try await pool.write { db in
            let marks = hooks.map { _ in "?" }.joined(separator: ", ")
            // The head of each hook's room queue: nothing older of the same hook and room is
            // still pending (a leased or waiting head holds the rest of its room back).
            var arguments: [any DatabaseValueConvertible] = hooks
            arguments += [now, now, Int64(limit)]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM webhook_outbox AS d
                    WHERE d.hook IN (\(marks)) AND d.failed = 0 AND d.next_at <= ? AND d.leased_until <= ?
                      AND NOT EXISTS (SELECT 1 FROM webhook_outbox AS e
                                      WHERE e.hook = d.hook AND e.room = d.room AND e.failed = 0 AND e.id < d.id)
                    ORDER BY d.id LIMIT ?
                    """, arguments: StatementArguments(arguments))
            let lease = try db.cachedStatement(sql: "UPDATE webhook_outbox SET leased_until = ? WHERE id = ?")
            return try rows.map { row in
                let id: Int64 = row["id"]
                try lease.execute(arguments: [now + leaseSeconds, id])
                return WebhookDelivery(
                    row: id, hook: row["hook"], eventID: row["event_id"], type: row["type"], room: row["room"], body: row["body"],
                    createdAt: (row["age_from"] as Double?) ?? row["created_at"], attempts: row["attempts"])
            }
        }
    }

    public func settleWebhook(row: Int64, _ settlement: WebhookSettlement) async throws {
        try await pool.write { db in
            switch settlement {
            case .delivered:
                try db.execute(sql: "DELETE FROM webhook_outbox WHERE id = ?", arguments: [row])
            case let .retry(at, error):
                try db.execute(
                    sql: "UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ?, leased_until = 0, last_error = ? WHERE id = ?",
                    arguments: [at, error, row])
            case let .failed(error):
                try db.execute(
                    sql: "UPDATE webhook_outbox SET attempts = attempts + 1, failed = 1, leased_until = 0, last_error = ? WHERE id = ?",
                    arguments: [error, row])
            }
        }
    }

    public func webhookBacklog() async throws -> [String: WebhookBacklog] {
        try await pool.read { db in
            var out: [String: WebhookBacklog] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT hook, sum(failed = 0) AS pending, sum(failed) AS failed, min(CASE WHEN failed = 0 THEN coalesce(age_from, created_at) END) AS oldest,
                           (SELECT last_error FROM webhook_outbox AS e WHERE e.hook = o.hook AND e.last_error IS NOT NULL
                            ORDER BY e.id DESC LIMIT 1) AS last_error
                    FROM webhook_outbox AS o GROUP BY hook
                    """)
            {
                out[row["hook"]] = WebhookBacklog(
                    pending: row["pending"], failed: row["failed"], oldestPendingAt: row["oldest"], lastError: row["last_error"])
            }
            return out
        }
    }

    public func retryWebhooks(hook: String, now: Double) async throws -> Int {
        try await pool.write { db in
            try db.execute(
                sql:
                    "UPDATE webhook_outbox SET failed = 0, attempts = 0, age_from = ?, next_at = ?, leased_until = 0 WHERE hook = ? AND failed = 1",
                arguments: [now, now, hook])
            return db.changesCount
        }
    }
}
