public import ChatCore
import Foundation
import GRDB

/// Mutes and bans in SQLite (`restrictions`, migration v8): one row per kind and identity.
extension SQLiteStore {
    static func registerRestrictions(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8: moderation state") { db in
            // `until` NULL: until lifted.
            try db.execute(
                sql: """
                    CREATE TABLE restrictions (
                        kind TEXT NOT NULL,
                        target TEXT NOT NULL,
                        until REAL,
                        actor TEXT NOT NULL,
                        reason TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (kind, target)
                    ) WITHOUT ROWID;
                    """)
        }
    }

    public func setRestriction(_ r: Restriction) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO restrictions (kind, target, until, actor, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (kind, target) DO UPDATE SET
                        until = excluded.until, actor = excluded.actor, reason = excluded.reason, created_at = excluded.created_at
                    """,
                arguments: [r.kind.rawValue, r.target, r.until, r.actor, r.reason, r.createdAt])
        }
    }

    public func removeRestriction(kind: Restriction.Kind, target: String, now: Double) async throws -> Bool {
        try await pool.write { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT until FROM restrictions WHERE kind = ? AND target = ?", arguments: [kind.rawValue, target])
            guard let row else { return false }
            try db.execute(sql: "DELETE FROM restrictions WHERE kind = ? AND target = ?", arguments: [kind.rawValue, target])
            return (row["until"] as Double?).map { $0 > now } ?? true
        }
    }

    public func restrictions(now: Double) async throws -> [Restriction] {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM restrictions WHERE until <= ?", arguments: [now])
            return try Row.fetchAll(db, sql: "SELECT * FROM restrictions ORDER BY kind, target").compactMap { row in
                // A kind a newer chatd wrote (after a downgrade) is not this one's to enforce.
                guard let kind = Restriction.Kind(rawValue: row["kind"]) else { return nil }
                return Restriction(
                    kind: kind, target: row["target"], until: row["until"], actor: row["actor"], reason: row["reason"],
                    createdAt: row["created_at"])
            }
        }
    }
}
