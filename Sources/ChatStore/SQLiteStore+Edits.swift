public import ChatCore
import GRDB

// MARK: Edits

extension SQLiteStore {
    /// An edit is a row of its own in the room's log (`edit_of` set), numbered like a message,
    /// which remembers the text it replaced (`previous`): the versions a moderator may need,
    /// erased with the message. The message row itself carries the current text.
    static func registerEdits(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7: edits") { db in
            try db.execute(
                sql: """
                    ALTER TABLE message ADD COLUMN edit_of INTEGER;
                    ALTER TABLE message ADD COLUMN edit_of_id TEXT;
                    ALTER TABLE message ADD COLUMN previous TEXT;
                    ALTER TABLE message ADD COLUMN edited_at TEXT;
                    CREATE INDEX message_edit_of ON message(room, edit_of) WHERE edit_of IS NOT NULL;
                    """)
        }
    }

    /// Gives the message `target` the edit's text; returns the text it had (nil when the
    /// message is gone: the edit is still stored, in its place, and changes nothing).
    static func applyEdit(_ edit: ChatMessage, to target: MessageRef, _ db: Database) throws -> String? {
        let seq = Int64(clamping: target.seq)
        guard
            let previous = try String.fetchOne(
                db, sql: "SELECT text FROM message WHERE room = ? AND seq = ? AND edit_of IS NULL", arguments: [edit.room, seq])
        else { return nil }
        try db.execute(
            sql: "UPDATE message SET text = ?, edited_at = ? WHERE room = ? AND seq = ? AND edit_of IS NULL",
            arguments: [edit.text, edit.sentAt, edit.room, seq])
        return previous
    }

    static func editOf(_ row: Row) -> MessageRef? {
        guard let seq = row["edit_of"] as Int64?, let id = row["edit_of_id"] as String?, let target = UInt64(exactly: seq) else {
            return nil
        }
        return MessageRef(seq: target, id: id)
    }

    /// A message's texts before each of its edits, oldest first, with who replaced each and
    /// when (for moderators: `chatctl versions`).
    public func versions(room: String, seq: UInt64) async throws -> [MessageVersion] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT previous, sender, sent_at FROM message
                    WHERE room = ? AND edit_of = ? AND previous IS NOT NULL ORDER BY seq
                    """, arguments: [room, Int64(clamping: seq)]
            ).map { MessageVersion(text: $0["previous"], replacedBy: $0["sender"], replacedAt: $0["sent_at"]) }
        }
    }
}
