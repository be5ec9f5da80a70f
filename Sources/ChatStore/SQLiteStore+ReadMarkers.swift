import Foundation
import GRDB

/// Read markers in SQLite (`read_marker`, migration v9): one row per reader and room.
extension SQLiteStore {
    static func registerReadMarkers(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9: read markers") { db in
            // `read_at` orders a reader's rooms for `rooms` (most recently read first).
            try db.execute(
                sql: """
                    CREATE TABLE read_marker (
                        reader TEXT NOT NULL,
                        room TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        read_at REAL NOT NULL,
                        PRIMARY KEY (reader, room)
                    ) WITHOUT ROWID;
                    """)
        }
    }

    public func markRead(reader: String, room: String, seq: UInt64) async throws -> (seq: UInt64, moved: Bool) {
        let wanted = Int64(clamping: seq)
        return try await pool.write { db in
            let old =
                try Int64.fetchOne(db, sql: "SELECT seq FROM read_marker WHERE reader = ? AND room = ?", arguments: [reader, room]) ?? 0
            guard wanted > old else { return (UInt64(old), false) }
            try db.execute(
                sql: """
                    INSERT INTO read_marker (reader, room, seq, read_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (reader, room) DO UPDATE SET seq = max(seq, excluded.seq), read_at = excluded.read_at
                    """,
                arguments: [reader, room, wanted, Date().timeIntervalSince1970])
            return (UInt64(wanted), true)
        }
    }

    public func readState(reader: String, room: String, through: UInt64, limit: Int) async throws -> (readSeq: UInt64, unread: Int) {
        try await pool.read { db in
            let readSeq =
                try Int64.fetchOne(db, sql: "SELECT seq FROM read_marker WHERE reader = ? AND room = ?", arguments: [reader, room]) ?? 0
            // A range of the (room, seq) key, stopped at `limit` rows: bounded however long
            // the room's history.
            let unread =
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT count(*) FROM (
                            SELECT 1 FROM message
                            WHERE room = ? AND seq > ? AND seq <= ? AND edit_of IS NULL AND author != ? LIMIT ?)
                        """, arguments: [room, readSeq, Int64(clamping: through), reader, max(limit, 0)]) ?? 0
            return (UInt64(max(readSeq, 0)), unread)
        }
    }

    public func readMarkers(reader: String, limit: Int) async throws -> [(room: String, seq: UInt64)] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT room, seq FROM read_marker WHERE reader = ? ORDER BY read_at DESC LIMIT ?",
                arguments: [reader, max(limit, 0)]
            ).map { (room: $0["room"], seq: UInt64(max($0["seq"] as Int64, 0))) }
        }
    }
}
