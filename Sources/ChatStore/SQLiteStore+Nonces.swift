public import ChatCore
import GRDB

// MARK: Message nonces

extension SQLiteStore {
    /// The nonce is kept on the message row: the message is the window's record, so a resend
    /// is recognised for as long as the message is held, and retention ends both at once.
    static func registerNonces(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4: message nonces") { db in
            try db.execute(
                sql: """
                    ALTER TABLE message ADD COLUMN nonce TEXT;
                    CREATE UNIQUE INDEX message_nonce ON message(room, author, nonce) WHERE nonce IS NOT NULL;
                    """)
        }
    }

    public func message(room: String, author: String, nonce: String) async throws -> ChatMessage? {
        try await pool.read { db in try Self.message(db, room: room, author: author, nonce: nonce) }
    }

    static func message(_ db: Database, room: String, author: String, nonce: String) throws -> ChatMessage? {
        try messages(
            db, sql: "SELECT * FROM message WHERE room = ? AND author = ? AND nonce = ?", arguments: [room, author, nonce]
        ).first
    }
}
