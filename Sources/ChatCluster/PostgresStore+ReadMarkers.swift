import Foundation
import PostgresNIO

/// Read markers in PostgreSQL (`chatd_read_marker`), shared by every node: an identity's
/// position is the same whichever node its connections are on.
extension PostgresStore {
    /// Run by `migrate` under its lock; idempotent, so an existing database gains the table.
    static let readMarkerTable: PostgresQuery = """
        CREATE TABLE IF NOT EXISTS chatd_read_marker (
            reader text NOT NULL, room text NOT NULL, seq bigint NOT NULL,
            read_at double precision NOT NULL, PRIMARY KEY (reader, room))
        """

    public func markRead(reader: String, room: String, seq: UInt64) async throws -> (seq: UInt64, moved: Bool) {
        let wanted = Int64(clamping: seq)
        let now = Date().timeIntervalSince1970
        // The update's WHERE is evaluated on the row as locked, so of two nodes moving the
        // same marker at once only a forward move is told. When it did not move, the row
        // read from the statement's snapshot may miss another node's concurrent insert: the
        // position is then at least `wanted`.
        let rows = try await write(
            """
            WITH up AS (
                INSERT INTO chatd_read_marker (reader, room, seq, read_at) VALUES (\(reader), \(room), \(wanted), \(now))
                ON CONFLICT (reader, room) DO UPDATE SET seq = excluded.seq, read_at = excluded.read_at
                WHERE chatd_read_marker.seq < excluded.seq
                RETURNING seq)
            SELECT seq, true FROM up
            UNION ALL
            SELECT seq, false FROM chatd_read_marker
            WHERE reader = \(reader) AND room = \(room) AND NOT EXISTS (SELECT 1 FROM up)
            """)
        guard let row = rows.first else { return (seq, false) }
        let (stored, moved) = try row.decode((Int64, Bool).self)
        return (UInt64(max(stored, 0)), moved)
    }

    public func readState(reader: String, room: String, through: UInt64, limit: Int) async throws -> (readSeq: UInt64, unread: Int) {
        let rows = try await read(
            """
            WITH r AS (
                SELECT coalesce(max(seq), 0) AS seq FROM chatd_read_marker WHERE reader = \(reader) AND room = \(room))
            SELECT r.seq, (
                SELECT count(*) FROM (
                    SELECT 1 FROM chatd_message m
                    WHERE m.room = \(room) AND m.seq > r.seq AND m.seq <= \(Int64(clamping: through))
                        AND m.edit_of IS NULL AND m.author <> \(reader)
                    LIMIT \(Int64(max(limit, 0)))) c)
            FROM r
            """)
        guard let row = rows.first else { return (0, 0) }
        let (readSeq, unread) = try row.decode((Int64, Int64).self)
        return (UInt64(max(readSeq, 0)), Int(unread))
    }

    public func readMarkers(reader: String, limit: Int) async throws -> [(room: String, seq: UInt64)] {
        try await read(
            """
            SELECT room, seq FROM chatd_read_marker WHERE reader = \(reader) ORDER BY read_at DESC LIMIT \(Int64(max(limit, 0)))
            """
        ).map { row in
            let (room, seq) = try row.decode((String, Int64).self)
            return (room: room, seq: UInt64(max(seq, 0)))
        }
    }
}
