public import ChatCore
public import ChatStore
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import PostgresNIO

/// History in PostgreSQL, shared by every node of a cluster. Each room's sequence number is
/// given out by the database inside the statement that inserts the messages (a row lock on
/// `chatd_room_sequence`), so every node agrees on the order, and the same statement
/// NOTIFYs the other nodes: a notification is sent only if, and when, the insert commits.
///
/// Calls go through a pool of connections, so that a long read never holds up a commit,
/// and each has a deadline: writes `writeTimeout`, reads (which a client waits for) less.
public final class PostgresStore: ChatStore {
    /// The NOTIFY channel every node LISTENs on.
    public static let channel = "chatd"
    /// NOTIFY payloads must stay under 8000 bytes; larger batches notify a range only.
    static let payloadLimit = 7900

    let pool: PostgresPool
    private let node: String
    /// Which hooks get which events (`setWebhookRoutes`).
    let routes = NIOLockedValueBox(WebhookRoutes())
    static let writeTimeout: Duration = .seconds(5)
    static let readTimeout: Duration = .seconds(2)

    /// Makes the pool; nothing is connected until `run()` runs and `migrate()` or the first
    /// call asks.
    public init(url: PostgresURL, node: String, group: any EventLoopGroup, logger: Logger) {
        pool = PostgresPool(url: url, group: group, logger: logger)
        self.node = node
    }

    /// Runs the connection pool (a long-lived part of chatd) until cancelled or stopped
    /// gracefully; calls made while it does not run wait for it.
    public func run() async {
        await pool.run()
    }

    public var assignsSequences: Bool { true }
    public var isConnected: Bool { pool.isConnected }

    func write(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await pool.rows(query, timeout: Self.writeTimeout)
    }

    func read(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await pool.rows(query, timeout: Self.readTimeout)
    }

    /// Idempotent DDL under an advisory lock, so that nodes starting together do not race.
    public func migrate() async throws {
        let statements: [PostgresQuery] = [
            "SELECT pg_advisory_lock(7437001)",
            """
            CREATE TABLE IF NOT EXISTS chatd_message (
                room text NOT NULL, seq bigint NOT NULL, id text NOT NULL, sender text NOT NULL,
                text text NOT NULL, sent_at text NOT NULL, author text NOT NULL DEFAULT '', data text,
                PRIMARY KEY (room, seq))
            """,
            "CREATE INDEX IF NOT EXISTS chatd_message_sender ON chatd_message (sender)",
            "CREATE TABLE IF NOT EXISTS chatd_room_sequence (room text PRIMARY KEY, last_seq bigint NOT NULL)",
            """
            CREATE TABLE IF NOT EXISTS chatd_audit (
                id bigserial PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL,
                action text NOT NULL, target text NOT NULL, reason text NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS chatd_audit_at ON chatd_audit (at)",
            """
            CREATE TABLE IF NOT EXISTS chatd_webhook_outbox (
                id bigserial PRIMARY KEY, hook text NOT NULL, event_id text NOT NULL, type text NOT NULL,
                room text NOT NULL, body text NOT NULL, created_at double precision NOT NULL, age_from double precision,
                attempts integer NOT NULL DEFAULT 0, next_at double precision NOT NULL,
                leased_until double precision NOT NULL DEFAULT 0, failed boolean NOT NULL DEFAULT false, last_error text)
            """,
            "CREATE INDEX IF NOT EXISTS chatd_webhook_outbox_queue ON chatd_webhook_outbox (hook, room, failed, id)",
            // Message nonces (`MessageNonce`): kept on the row, unique per room and author.
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS nonce text",
            // Replies (`replyTo`): the seq of the message answered, in the same room.
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS reply_to bigint",
            // Edits: rows of their own in the room's log (`SQLiteStore.registerEdits`).
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS edit_of bigint",
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS edit_of_id text",
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS previous text",
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS edited_at text",
            "CREATE INDEX IF NOT EXISTS chatd_message_edit_of ON chatd_message (room, edit_of) WHERE edit_of IS NOT NULL",
            // Reactions (`SQLiteStore.registerReactions`).
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS reaction text",
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS added boolean",
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS reactions text",
            "ALTER TABLE chatd_message ADD COLUMN IF NOT EXISTS deletion boolean",
            """
            CREATE TABLE IF NOT EXISTS chatd_reaction (
                id bigserial PRIMARY KEY, room text NOT NULL, seq bigint NOT NULL, emoji text NOT NULL, reactor text NOT NULL,
                UNIQUE (room, seq, emoji, reactor))
            """,
            "CREATE INDEX IF NOT EXISTS chatd_reaction_reactor ON chatd_reaction (room, reactor, seq)",
            """
            CREATE UNIQUE INDEX IF NOT EXISTS chatd_message_nonce ON chatd_message (room, author, nonce)
            WHERE nonce IS NOT NULL
            """,
            Self.restrictionTable,
            Self.readMarkerTable,
            "SELECT pg_advisory_unlock(7437001)",
        ]
        let logger = Logger(label: "chatd.migrate")
        try await pool.withConnection(timeout: Self.writeTimeout) { connection in
            // One connection: the advisory lock is held by the session that took it.
            for statement in statements { _ = try await connection.query(statement, logger: logger).collect() }
        }
    }

    public func lastSequences() async throws -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for row in try await read("SELECT room, last_seq FROM chatd_room_sequence") {
            let (room, seq) = try row.decode((String, Int64).self)
            out[room] = UInt64(seq)
        }
        return out
    }

    public func lastSequence(room: String) async throws -> UInt64? {
        try await read("SELECT last_seq FROM chatd_room_sequence WHERE room = \(room)").first
            .map { UInt64(try $0.decode(Int64.self)) }
    }

    private struct Row: Encodable {
        var id, from, text, sentAt, author: String
        var data: String?
        var nonce: String?
        var replyTo: UInt64?
        var editOf: UInt64?
        var editOfID: String?
        var reaction: String?
        var added: Bool?
        var deletion: Bool?
        /// Only beside a nonce, for the statement's duplicate check (`appendQuery`).
        var room: String?
    }

    /// One statement per room, all on one connection: each takes its room's next numbers,
    /// inserts, and notifies, in one transaction. Returns the messages in `batch` order with
    /// their numbers.
    @discardableResult
    public func append(_ batch: [ChatMessage]) async throws -> [ChatMessage] {
        var order: [String] = []
        var byRoom: [String: [Int]] = [:]
        for (index, message) in batch.enumerated() {
            if byRoom[message.room] == nil { order.append(message.room) }
            byRoom[message.room, default: []].append(index)
        }
        let encoder = JSONEncoder()
        let routes = self.routes.withLockedValue { $0 }
        var queries: [PostgresQuery] = []
        for room in order {
            let rows = byRoom[room]!.map { i in
                let m = batch[i]
                return Row(
                    id: m.id, from: m.from, text: m.text, sentAt: m.sentAt, author: m.author, data: m.data, nonce: m.nonce,
                    replyTo: m.replyTo, editOf: m.editOf?.seq, editOfID: m.editOf?.id, reaction: m.reaction?.emoji,
                    added: m.reaction?.added, deletion: m.deletion ? true : nil,
                    room: m.nonce == nil ? nil : m.room)
            }
            let checksNonces = byRoom[room]!.contains { batch[$0].nonce != nil }
            let json = String(decoding: try encoder.encode(rows), as: UTF8.self)
            queries.append(
                Self.appendQuery(
                    room: room, count: rows.count, json: json, node: node, checksNonces: checksNonces,
                    hooks: routes.hooks(for: .message, room: room), editHooks: routes.hooks(for: .messageEdited, room: room),
                    deleteHooks: routes.hooks(for: .messageDeleted, room: room), at: Date().timeIntervalSince1970,
                    hasReactions: byRoom[room]!.contains { batch[$0].reaction != nil },
                    hasDeletions: byRoom[room]!.contains { batch[$0].deletion }))
        }
        // Each room's numbers by message id, in `order`, as its statement commits. A message
        // whose nonce was already used has none: it was not inserted.
        let numbered = NIOLockedValueBox<[[String: Numbered]]>([])
        var failure: (any Error)?
        do {
            try await pool.rows(queries, timeout: Self.writeTimeout) { _, rows in
                var seqs: [String: Numbered] = [:]
                for row in rows {
                    let (seq, id, reactions, deletion) = try row.decode((Int64, String, String?, Bool).self)
                    seqs[id] = Numbered(seq: UInt64(seq), reactions: reactions, deletion: deletion)
                }
                numbered.withLockedValue { $0.append(seqs) }
            }
        } catch {
            // Rooms before the failing one are committed (and notified): say which.
            if numbered.withLockedValue({ $0.isEmpty }) { throw error }
            failure = error
        }
        var stored = Self.numbering(batch, order.map { byRoom[$0]! }, numbered.withLockedValue { $0 })
        for (i, m) in batch.enumerated() where stored[i] == nil && m.nonce != nil && Self.wasCommitted(i, order, byRoom, numbered) {
            // Stored meanwhile by another node (the unique index decided): its original.
            stored[i] = try? await message(room: m.room, author: m.author, nonce: m.nonce!)
        }
        if let failure { throw PartialAppend(stored: stored, underlying: failure) }
        guard stored.allSatisfy({ $0 != nil }) else {
            throw PartialAppend(stored: stored, underlying: DatabaseError.unexpected("a duplicate's original could not be read"))
        }
        return stored.map { $0! }
    }

    /// True when the statement of message `index`'s room committed.
    private static func wasCommitted(
        _ index: Int, _ order: [String], _ byRoom: [String: [Int]], _ numbered: NIOLockedValueBox<[[String: Numbered]]>
    ) -> Bool {
        let committed = numbered.withLockedValue { $0.count }
        return order.prefix(committed).contains { byRoom[$0]!.contains(index) }
    }

    /// `batch` with the numbers of the messages inserted (`seqs[k]` by id, for the indices
    /// `indices[k]`); nil for the others.
    /// What the statement gave a message: its number and, for a reaction change, the counts
    /// it left.
    struct Numbered: Sendable {
        var seq: UInt64
        var reactions: String?
        /// A change stored as a deletion: its message was gone.
        var deletion: Bool
    }

    private static func numbering(_ batch: [ChatMessage], _ indices: [[Int]], _ seqs: [[String: Numbered]]) -> [ChatMessage?] {
        var stored = [ChatMessage?](repeating: nil, count: batch.count)
        for (roomIndices, roomSeqs) in zip(indices, seqs) {
            for i in roomIndices {
                guard let numbered = roomSeqs[batch[i].id] else { continue }
                var m = batch[i]
                m.seq = numbered.seq
                if m.reaction != nil { m.reactions = Reactions.decode(numbered.reactions) }
                stored[i] = numbered.deletion && !m.deletion ? ChatMessage.gone(m) : m
            }
        }
        return stored
    }

    public func delete(room: String, seq: UInt64) async throws -> ChatMessage? {
        try await withOutbox(
            """
            WITH d AS (
                DELETE FROM chatd_message WHERE room = \(room) AND seq = \(Int64(clamping: seq)) AND edit_of IS NULL
                RETURNING \(unescaped: Self.columns)
            ), edits AS (
                -- Its changes, and so its earlier versions, go with it, and its reactions.
                DELETE FROM chatd_message m USING d WHERE m.room = d.room AND m.edit_of = d.seq
            ), reactions AS (
                DELETE FROM chatd_reaction r USING d WHERE r.room = d.room AND r.seq = d.seq
            )
            SELECT * FROM d
            """
        ) { rows in
            let found = try rows.map(Self.message)
            let now = Date().timeIntervalSince1970
            return (found.first, found.map { WebhookEvent.deleted($0, at: now) })
        }
    }

    public func purge(sender: String, sentUpTo: String, limit: Int) async throws -> [ChatMessage] {
        // No ORDER BY in the part: it would sort all of the sender's messages for every part.
        try await withOutbox(
            """
            WITH d AS (
                DELETE FROM chatd_message WHERE (room, seq) IN (
                    SELECT room, seq FROM chatd_message WHERE sender = \(sender) AND sent_at <= \(sentUpTo)
                    LIMIT \(Int64(clamping: max(limit, 0))))
                RETURNING \(unescaped: Self.columns)
            ), edits AS (
                -- The sender's edits are among the rows found; the edits of their messages go too.
                DELETE FROM chatd_message m USING d WHERE m.room = d.room AND m.edit_of = d.seq AND d.edit_of IS NULL
            ), reactions AS (
                DELETE FROM chatd_reaction r USING d WHERE r.room = d.room AND r.seq = d.seq AND d.edit_of IS NULL
            )
            SELECT * FROM d
            """
        ) { rows in
            let found = try rows.map(Self.message).sorted { ($0.room, $0.seq) < ($1.room, $1.seq) }
            let now = Date().timeIntervalSince1970
            return (found, found.filter(\.isMessage).map { WebhookEvent.deleted($0, at: now) })
        }
    }

    public func rooms() async throws -> [String] {
        try await read("SELECT room FROM chatd_room_sequence ORDER BY room").map { try $0.decode(String.self) }
    }

    public func expire(room: String, keepLast: Int?, sentBefore: String?, batch: Int) async throws -> (count: Int, upTo: UInt64) {
        // No keepLast: an offset no room reaches; no sentBefore: a time no message is before.
        let offset = Int64(keepLast ?? Int.max)
        let before = sentBefore ?? ""
        let row = try await write(
            """
            WITH cut AS (
                SELECT greatest(
                    coalesce((SELECT seq FROM chatd_message WHERE room = \(room) AND edit_of IS NULL
                              ORDER BY seq DESC LIMIT 1 OFFSET \(offset)), 0),
                    coalesce((SELECT max(seq) FROM chatd_message WHERE room = \(room) AND sent_at < \(before)), 0)) AS c
            ), upto AS (
                SELECT max(seq) AS u FROM (
                    SELECT seq FROM chatd_message, cut WHERE room = \(room) AND seq <= cut.c ORDER BY seq LIMIT \(Int64(batch))) x
            ), del AS (
                DELETE FROM chatd_message m USING upto WHERE m.room = \(room) AND m.seq <= upto.u RETURNING m.seq
            ), reactions AS (
                DELETE FROM chatd_reaction r USING upto WHERE r.room = \(room) AND r.seq <= upto.u
            )
            SELECT count(*), coalesce(max(seq), 0) FROM del
            """
        ).first
        guard let row else { return (0, 0) }
        let (count, upTo) = try row.decode((Int64, Int64).self)
        return (Int(count), UInt64(upTo))
    }

    /// Sends a notification to every node (presence, moderation, heartbeats).
    func notify(_ payload: String) async throws {
        _ = try await read("SELECT pg_notify(\(Self.channel), \(payload))")
    }
}
