import ChatCore
import Foundation
import GRDB

// MARK: Reactions

extension SQLiteStore {
    /// Who reacted with what is a table of its own (one row per message, emoji and reader, so
    /// a reader counts once); each message row keeps its counts (`reactions`) for reads, and
    /// each reaction change, an entry of the log like an edit, the counts it left.
    static func registerReactions(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10: reactions") { db in
            try db.execute(
                sql: """
                    ALTER TABLE message ADD COLUMN reaction TEXT;
                    ALTER TABLE message ADD COLUMN added INTEGER;
                    ALTER TABLE message ADD COLUMN reactions TEXT;
                    ALTER TABLE message ADD COLUMN deletion INTEGER;
                    CREATE TABLE reaction (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        room TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        emoji TEXT NOT NULL,
                        reactor TEXT NOT NULL
                    );
                    CREATE UNIQUE INDEX reaction_key ON reaction(room, seq, emoji, reactor);
                    CREATE INDEX reaction_reactor ON reaction(room, reactor, seq);
                    """)
        }
    }

    /// Adds or removes the change's author's reaction on the message `target`, which `insert`
    /// found to be there, and returns its counts after (in the order of first use).
    static func applyReaction(_ change: ReactionChange, of entry: ChatMessage, to target: MessageRef, _ db: Database) throws
        -> [ReactionCount]
    {
        let seq = Int64(clamping: target.seq)
        if change.added {
            try db.execute(
                sql: "INSERT INTO reaction (room, seq, emoji, reactor) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [entry.room, seq, change.emoji, entry.author])
        } else {
            try db.execute(
                sql: "DELETE FROM reaction WHERE room = ? AND seq = ? AND emoji = ? AND reactor = ?",
                arguments: [entry.room, seq, change.emoji, entry.author])
        }
        let counts = try Row.fetchAll(
            db,
            sql: """
                SELECT emoji, count(*) AS n FROM reaction WHERE room = ? AND seq = ?
                GROUP BY emoji ORDER BY min(id)
                """, arguments: [entry.room, seq]
        ).map { ReactionCount(emoji: $0["emoji"], count: $0["n"]) }
        try db.execute(
            sql: "UPDATE message SET reactions = ? WHERE room = ? AND seq = ? AND edit_of IS NULL",
            arguments: [Reactions.encode(counts), entry.room, seq])
        return counts
    }

    /// Removes the message `target`, its changes and its reactions, for the deletion `entry`
    /// stored in the same transaction; its `message_deleted` event goes into the outbox.
    static func applyDeletion(_ entry: ChatMessage, of target: MessageRef, routes: WebhookRoutes, _ db: Database) throws {
        let seq = Int64(clamping: target.seq)
        guard
            let found = try messages(
                db, sql: "SELECT * FROM message WHERE room = ? AND seq = ? AND edit_of IS NULL", arguments: [entry.room, seq]
            ).first
        else { return }
        try db.execute(sql: "DELETE FROM message WHERE room = ? AND (seq = ? OR edit_of = ?)", arguments: [entry.room, seq, seq])
        try db.execute(sql: "DELETE FROM reaction WHERE room = ? AND seq = ?", arguments: [entry.room, seq])
        try outbox([WebhookEvent.deleted(found, at: Date().timeIntervalSince1970)], routes: routes, db)
    }

    static func messageExists(room: String, seq: UInt64, _ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db, sql: "SELECT 1 FROM message WHERE room = ? AND seq = ? AND edit_of IS NULL", arguments: [room, Int64(clamping: seq)])
            != nil
    }

    static func reaction(_ row: Row) -> ReactionChange? {
        guard let emoji = row["reaction"] as String?, let added = row["added"] as Bool? else { return nil }
        return ReactionChange(emoji: emoji, added: added)
    }

    /// The emoji `reactor` reacted with on each of `seqs` in `room` (those it reacted to).
    public func ownReactions(room: String, reactor: String, seqs: [UInt64]) async throws -> [UInt64: [String]] {
        guard let low = seqs.min(), let high = seqs.max() else { return [:] }
        return try await pool.read { db in
            var out: [UInt64: [String]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT seq, emoji FROM reaction WHERE room = ? AND reactor = ? AND seq BETWEEN ? AND ? ORDER BY id
                    """, arguments: [room, reactor, Int64(clamping: low), Int64(clamping: high)])
            {
                guard let seq = UInt64(exactly: row["seq"] as Int64) else { continue }
                out[seq, default: []].append(row["emoji"])
            }
            return out
        }
    }
}
