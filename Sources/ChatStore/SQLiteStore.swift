public import ChatCore
import Foundation
import GRDB
import Synchronization

/// History in SQLite through GRDB: WAL mode, migrations, one transaction per batch.
///
/// Durability: a batch is committed before any of its messages is broadcast. With
/// `synchronous = NORMAL` (the default) a commit survives the process being killed
/// (SIGKILL, a crash) because it is in the WAL in the kernel's page cache; `FULL` also
/// survives power loss, at the cost of an fsync per batch.
public final class SQLiteStore: BlockingAppend {
    public enum Synchronous: String, Sendable {
        case normal = "NORMAL"
        case full = "FULL"
    }

    let pool: DatabasePool
    /// Checkpoints the WAL from its own connection and thread, so that the copy into the
    /// database file and its fsync never hold up a commit (which every broadcast waits for).
    private let checkpointer: DatabaseQueue
    /// Which hooks get which events (`setWebhookRoutes`); read in each writing transaction.
    let routes = Mutex(WebhookRoutes())

    public init(path: String, synchronous: Synchronous = .normal) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
            // No automatic checkpoints in the committing connection: see `checkpointer`.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        checkpointer = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Checkpoints every `seconds` until the task is cancelled (a long-lived part of chatd).
    /// PASSIVE copies what it can without taking the write lock; the writer starts the WAL
    /// over once everything in it has been copied.
    public func checkpointEvery(seconds: Double) async {
        let interval = Duration.milliseconds(Int64(seconds * 1000))
        while (try? await Task.sleep(for: interval)) != nil {
            _ = try? await checkpointer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)") }
        }
    }

    /// Checkpoints now (tests; `checkpointEvery` does it in chatd). Returns the WAL's frame
    /// count and how many of them are in the database file.
    @discardableResult
    public func checkpoint() throws -> (walFrames: Int, checkpointed: Int) {
        try checkpointer.writeWithoutTransaction { db in
            let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
            return (row?[1] ?? 0, row?[2] ?? 0)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: messages and room sequences") { db in
            try db.execute(
                sql: """
                    CREATE TABLE message (
                        room TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        id TEXT NOT NULL,
                        sender TEXT NOT NULL,
                        text TEXT NOT NULL,
                        sent_at TEXT NOT NULL,
                        PRIMARY KEY (room, seq)
                    ) WITHOUT ROWID;
                    CREATE INDEX message_sender ON message(sender);
                    CREATE TABLE room_sequence (
                        room TEXT PRIMARY KEY NOT NULL,
                        last_seq INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2: authors and the audit log") { db in
            try db.execute(
                sql: """
                    ALTER TABLE message ADD COLUMN author TEXT NOT NULL DEFAULT '';
                    CREATE TABLE audit (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at REAL NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        target TEXT NOT NULL,
                        reason TEXT NOT NULL
                    );
                    CREATE INDEX audit_at ON audit(at);
                    """)
        }
        migrator.registerMigration("v3: published JSON payloads") { db in
            try db.execute(sql: "ALTER TABLE message ADD COLUMN data TEXT")
        }
        registerNonces(&migrator)
        migrator.registerMigration("v5: webhook outbox") { db in
            // One row per event and hook, until delivered (deleted) or failed (kept).
            try db.execute(
                sql: """
                    CREATE TABLE webhook_outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        hook TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        type TEXT NOT NULL,
                        room TEXT NOT NULL,
                        body TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        age_from REAL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        next_at REAL NOT NULL,
                        leased_until REAL NOT NULL DEFAULT 0,
                        failed INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT
                    );
                    CREATE INDEX webhook_outbox_queue ON webhook_outbox(hook, room, failed, id);
                    """)
        }
        migrator.registerMigration("v6: replies") { db in
            try db.execute(sql: "ALTER TABLE message ADD COLUMN reply_to INTEGER")
        }
        registerEdits(&migrator)
        registerRestrictions(&migrator)
        registerReadMarkers(&migrator)
        registerReactions(&migrator)
        return migrator
    }

    public func lastSequences() async throws -> [String: UInt64] {
        try await pool.read { db in
            var out: [String: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT room, last_seq FROM room_sequence") {
                out[row["room"]] = UInt64(row["last_seq"] as Int64)
            }
            return out
        }
    }

    public var assignsSequences: Bool { false }

    public func lastSequence(room: String) async throws -> UInt64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT last_seq FROM room_sequence WHERE room = ?", arguments: [room]).map(UInt64.init)
        }
    }

    @discardableResult
    public func append(_ batch: [ChatMessage]) async throws -> [ChatMessage] {
        guard !batch.isEmpty else { return batch }
        let routes = self.routes.withLock { $0 }
        return try await pool.write { db in try Self.insert(batch, routes: routes, db) }
    }

    /// `append` on the calling thread (GRDB's writer is taken synchronously, so it runs right
    /// here): for the committer's own thread only.
    @discardableResult
    public func appendBlocking(_ batch: [ChatMessage]) throws -> [ChatMessage] {
        guard !batch.isEmpty else { return batch }
        let routes = self.routes.withLock { $0 }
        return try pool.write { db in try Self.insert(batch, routes: routes, db) }
    }

    /// Returns the batch as stored: a message whose nonce its author already used in the room
    /// comes back as that original (`MessageNonce`). The new ones' webhook events go into the
    /// outbox in the same transaction.
    private static func insert(_ batch: [ChatMessage], routes: WebhookRoutes, _ db: Database) throws -> [ChatMessage] {
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO message (room, seq, id, sender, text, sent_at, author, data, nonce, reply_to, edit_of, edit_of_id, previous,
                                     reaction, added, reactions, deletion)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (room, author, nonce) WHERE nonce IS NOT NULL DO NOTHING
                """)
        var last: [String: UInt64] = [:]
        var stored = batch
        for (index, m) in batch.enumerated() {
            var previous: String?
            if let target = m.editOf, !m.deletion, try !messageExists(room: m.room, seq: target.seq, db) {
                // Its message was deleted after the change was asked for (found by review: the
                // edit's text was kept, and sent after the deletion): what is stored and sent
                // in its place says the message is gone, holding nothing of the change.
                stored[index] = ChatMessage.gone(m)
            }
            let m = stored[index]
            if let target = m.editOf {
                if let change = m.reaction {
                    stored[index].reactions = try applyReaction(change, of: m, to: target, db)
                } else if m.deletion {
                    try applyDeletion(m, of: target, routes: routes, db)
                } else {
                    previous = try applyEdit(m, to: target, db)
                }
            }
            try insert.execute(
                arguments: [
                    m.room, Int64(m.seq), m.id, m.from, m.text, m.sentAt, m.author, m.data, m.nonce, m.replyTo.map { Int64(clamping: $0) },
                    m.editOf.map { Int64(clamping: $0.seq) }, m.editOf?.id, previous, m.reaction?.emoji, m.reaction?.added,
                    Reactions.encode(stored[index].reactions), m.deletion ? true : nil,
                ])
            if let nonce = m.nonce, db.changesCount == 0 {
                // The hub checks before it numbers, so this is the last line of defence only:
                // the batch is kept, this one answered as the duplicate it is.
                if let original = try message(db, room: m.room, author: m.author, nonce: nonce) { stored[index] = original }
                continue
            }
            last[m.room] = max(last[m.room] ?? 0, m.seq)
        }
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO room_sequence (room, last_seq) VALUES (?, ?)
                ON CONFLICT(room) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)
                """)
        for (room, seq) in last { try upsert.execute(arguments: [room, Int64(seq)]) }
        if routes.wants(.message) || routes.wants(.messageEdited) {
            let now = Date().timeIntervalSince1970
            let new = zip(batch, stored).filter { $0.0.id == $0.1.id }.map(\.1)
            // A message happened when it was sent; its place in the room's order is its row's
            // (joins and leaves are written in theirs by the committer).
            try outbox(
                new.compactMap { m in
                    let at = Timestamp.milliseconds(iso8601: m.sentAt).map { Double($0) / 1000 } ?? now
                    // Reactions are not told to webhooks.
                    return m.isMessage ? WebhookEvent.message(m, at: at) : m.isEdit ? WebhookEvent.edited(m, at: at) : nil
                },
                routes: routes, db)
        }
        return stored
    }

    public func recent(room: String, limit: Int) async throws -> [ChatMessage] {
        try await pool.read { db in
            // Both parts by the primary key, newest first: a flood of reactions can neither
            // push the messages out nor make the read long.
            let messages = try Self.messages(
                db, sql: "SELECT * FROM message WHERE room = ? AND edit_of IS NULL ORDER BY seq DESC LIMIT ?", arguments: [room, limit])
            let entries = try Self.messages(
                db, sql: "SELECT * FROM message WHERE room = ? ORDER BY seq DESC LIMIT ?",
                arguments: [room, HistoryWindow.entryLimit(messages: limit)])
            return HistoryWindow.window(messages: messages, entries: entries)
        }
    }

    public func messages(room: String, after: UInt64, limit: Int) async throws -> [ChatMessage] {
        try await pool.read { db in
            try Self.messages(
                db, sql: "SELECT * FROM message WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
                arguments: [room, Int64(clamping: after), limit])
        }
    }

    public func messages(room: String, before: UInt64, limit: Int) async throws -> [ChatMessage] {
        try await pool.read { db in
            try Self.messages(
                db, sql: "SELECT * FROM message WHERE room = ? AND seq < ? AND edit_of IS NULL ORDER BY seq DESC LIMIT ?",
                arguments: [room, Int64(clamping: before), limit]
            ).reversed()
        }
    }

    public func oldestSequence(room: String) async throws -> UInt64? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT min(seq) FROM message WHERE room = ?", arguments: [room]).map(UInt64.init)
        }
    }

    public func message(room: String, seq: UInt64) async throws -> ChatMessage? {
        try await pool.read { db in
            try Self.messages(
                db, sql: "SELECT * FROM message WHERE room = ? AND seq = ? AND edit_of IS NULL", arguments: [room, Int64(clamping: seq)]
            ).first
        }
    }

    public func delete(room: String, seq: UInt64) async throws -> ChatMessage? {
        let routes = self.routes.withLock { $0 }
        return try await pool.write { db in
            let found = try Self.messages(
                db, sql: "SELECT * FROM message WHERE room = ? AND seq = ? AND edit_of IS NULL",
                arguments: [room, Int64(clamping: seq)]
            ).first
            if let found {
                // Its changes, and so its earlier versions and its reactions, go with it.
                try db.execute(
                    sql: "DELETE FROM message WHERE room = ? AND (seq = ? OR edit_of = ?)",
                    arguments: [room, Int64(clamping: seq), Int64(clamping: seq)])
                try db.execute(sql: "DELETE FROM reaction WHERE room = ? AND seq = ?", arguments: [room, Int64(clamping: seq)])
                try Self.outbox([WebhookEvent.deleted(found, at: Date().timeIntervalSince1970)], routes: routes, db)
            }
            return found
        }
    }

    public func purge(sender: String, sentUpTo: String, limit: Int) async throws -> [ChatMessage] {
        let routes = self.routes.withLock { $0 }
        return try await pool.write { db in
            // No ORDER BY: it would sort all of the sender's messages for every part.
            let found = try Self.messages(
                db, sql: "SELECT * FROM message WHERE sender = ? AND sent_at <= ? LIMIT ?",
                arguments: [sender, sentUpTo, Int64(clamping: max(limit, 0))]
            ).sorted { ($0.room, $0.seq) < ($1.room, $1.seq) }
            // Compiled once for the part, not once per message.
            // The sender's edits are among the rows found; the edits of their messages go too.
            let delete = try db.cachedStatement(sql: "DELETE FROM message WHERE room = ? AND (seq = ? OR edit_of = ?)")
            let reactions = try db.cachedStatement(sql: "DELETE FROM reaction WHERE room = ? AND seq = ?")
            for message in found {
                try delete.execute(arguments: [message.room, Int64(clamping: message.seq), Int64(clamping: message.seq)])
                if message.isMessage { try reactions.execute(arguments: [message.room, Int64(clamping: message.seq)]) }
            }
            let now = Date().timeIntervalSince1970
            try Self.outbox(found.filter(\.isMessage).map { WebhookEvent.deleted($0, at: now) }, routes: routes, db)
            return found
        }
    }

    public func rooms() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT room FROM room_sequence ORDER BY room") }
    }

    public func expire(room: String, keepLast: Int?, sentBefore: String?, batch: Int) async throws -> (count: Int, upTo: UInt64) {
        try await pool.write { db in
            var cutoff: Int64 = 0
            if let keepLast,
                let newest = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT seq FROM message WHERE room = ? AND edit_of IS NULL ORDER BY seq DESC LIMIT 1 OFFSET ?
                        """, arguments: [room, keepLast])
            {
                cutoff = newest
            }
            if let sentBefore,
                let aged = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT max(seq) FROM message WHERE room = ? AND sent_at < ?
                        """, arguments: [room, sentBefore])
            {
                cutoff = max(cutoff, aged)
            }
            guard cutoff > 0 else { return (0, 0) }
            let upTo =
                try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT max(seq) FROM (SELECT seq FROM message WHERE room = ? AND seq <= ? ORDER BY seq LIMIT ?)
                        """, arguments: [room, cutoff, batch]) ?? 0
            try db.execute(sql: "DELETE FROM message WHERE room = ? AND seq <= ?", arguments: [room, upTo])
            let count = db.changesCount
            try db.execute(sql: "DELETE FROM reaction WHERE room = ? AND seq <= ?", arguments: [room, upTo])
            return (count, UInt64(upTo))
        }
    }

    static func messages(_ db: Database, sql: String, arguments: StatementArguments) throws -> [ChatMessage] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            ChatMessage(
                id: row["id"], seq: UInt64(row["seq"] as Int64), room: row["room"], from: row["sender"],
                text: row["text"], sentAt: row["sent_at"], author: row["author"], data: row["data"], nonce: row["nonce"],
                replyTo: (row["reply_to"] as Int64?).flatMap { UInt64(exactly: $0) },
                editOf: Self.editOf(row), editedAt: row["edited_at"], reaction: Self.reaction(row),
                reactions: Reactions.decode(row["reactions"]), deletion: row["deletion"] ?? false)
        }
    }
}
