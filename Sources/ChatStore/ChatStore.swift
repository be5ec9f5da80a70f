public import ChatCore

/// Where history lives. One protocol, so that SQLite (the embedded default, one node) and
/// PostgreSQL (several nodes) are interchangeable. Every call is async and none blocks an
/// event loop: SQLite runs on GRDB's own threads, PostgreSQL on postgres-nio's pool.
public protocol ChatStore: Sendable {
    /// True when the store numbers messages itself, atomically, because several nodes share
    /// it (`append` then ignores the `seq` it is given); false when the one node does.
    var assignsSequences: Bool { get }

    /// The last sequence number given out in one room, or nil when it never had a message.
    func lastSequence(room: String) async throws -> UInt64?

    /// The last sequence number ever given out in each room (kept even when the messages
    /// themselves were deleted or expired, so a number is never reused).
    func lastSequences() async throws -> [String: UInt64]

    /// Appends messages; when it returns they are durable (see `SQLiteStore` for what that
    /// means against a crash). Returns them as stored, each room's in sequence order; one
    /// whose nonce its author already used in the room is not stored and comes back as that
    /// original (another `id`).
    func append(_ batch: [ChatMessage]) async throws -> [ChatMessage]

    /// A room's window, oldest first: its newest `limit` messages, and its newest
    /// `HistoryWindow.entryLimit(messages: limit)` entries of every kind (the changes among
    /// them, with the messages they change).
    func recent(room: String, limit: Int) async throws -> [ChatMessage]

    /// Entries with `seq > after`, oldest first, at most `limit`: messages and edits
    /// (`ChatMessage.editOf`), as a resume and a cluster's in-order delivery need them.
    func messages(room: String, after: UInt64, limit: Int) async throws -> [ChatMessage]

    /// Messages (not edits) with `seq < before`, the newest `limit` of them, oldest first.
    func messages(room: String, before: UInt64, limit: Int) async throws -> [ChatMessage]

    /// The oldest sequence number still held for a room, or nil when none is.
    func oldestSequence(room: String) async throws -> UInt64?

    /// One message (not an edit), or nil.
    func message(room: String, seq: UInt64) async throws -> ChatMessage?

    /// The message `author` stored in `room` with `nonce`, while it is held (`MessageNonce`).
    func message(room: String, author: String, nonce: String) async throws -> ChatMessage?

    /// The emoji `reactor` (an author key) reacted with on each of `seqs` in `room`, in the
    /// order used; messages it has not reacted to are absent.
    func ownReactions(room: String, reactor: String, seqs: [UInt64]) async throws -> [UInt64: [String]]

    /// The texts a message had before each of its edits, oldest first.
    func versions(room: String, seq: UInt64) async throws -> [MessageVersion]

    /// Removes one message; returns it, or nil when there was none.
    func delete(room: String, seq: UInt64) async throws -> ChatMessage?

    /// Removes up to `limit` of the messages sent under this name at or before `sentUpTo`
    /// (a `sentAt`), with the edits of those messages; returns what was removed (the
    /// sender's edits among it), by room, then number. Fewer than `limit` means none are left.
    func purge(sender: String, sentUpTo: String, limit: Int) async throws -> [ChatMessage]

    /// Every room that ever had a message.
    func rooms() async throws -> [String]

    /// Deletes, in one short transaction, at most `batch` messages of `room` that are beyond
    /// the newest `keepLast` (when given) or sent before `sentBefore` (an ISO 8601 time of
    /// the messages' own format, when given); returns the largest deleted sequence number
    /// and how many were deleted.
    func expire(room: String, keepLast: Int?, sentBefore: String?, batch: Int) async throws -> (count: Int, upTo: UInt64)

    /// Records a moderation action.
    func audit(_ entry: AuditEntry) async throws

    /// Moderation actions at or after `since` (seconds since 1970), oldest first.
    func auditLog(since: Double, limit: Int) async throws -> [AuditEntry]

    /// The newest `limit` moderation actions, oldest first (the admin console's view).
    func recentAudit(limit: Int) async throws -> [AuditEntry]

    /// Deletes, in one short transaction, at most `batch` audit entries recorded before
    /// `before` (seconds since 1970), oldest first; returns how many were deleted.
    func expireAudit(before: Double, batch: Int) async throws -> Int

    // MARK: Mutes and bans

    /// Records a mute or a ban, replacing the one of the same kind and target (a re-ban
    /// takes the new duration, actor and reason).
    func setRestriction(_ restriction: Restriction) async throws

    /// Lifts one; returns false when there was none in force at `now` (an expired row is
    /// removed all the same).
    func removeRestriction(kind: Restriction.Kind, target: String, now: Double) async throws -> Bool

    /// Those in force at `now`, by kind and target; expired rows are deleted on the way, so
    /// the table holds no more than what is in force plus what expired since the last read.
    func restrictions(now: Double) async throws -> [Restriction]

    // MARK: Read markers

    /// Moves `reader`'s position in `room` to `seq` unless it is already there or beyond;
    /// returns the position stored and whether it moved.
    func markRead(reader: String, room: String, seq: UInt64) async throws -> (seq: UInt64, moved: Bool)

    /// `reader`'s position in `room` (0: never read) and, counted up to `limit`, the messages
    /// after it up to `through` that are not edits and not the reader's own.
    func readState(reader: String, room: String, through: UInt64, limit: Int) async throws -> (readSeq: UInt64, unread: Int)

    /// The rooms `reader` has positions in, at most `limit`, most recently read first.
    func readMarkers(reader: String, limit: Int) async throws -> [(room: String, seq: UInt64)]

    // MARK: Webhook outbox

    /// Which hooks get which events, from now on: `append`, `delete`, `purge` and `audit`
    /// write their events into the outbox in the same transaction as the change itself, so
    /// that an event is neither lost nor told of a change that was rolled back.
    func setWebhookRoutes(_ routes: WebhookRoutes)

    /// Events with nothing stored behind them (joins, leaves, occupancy), one row per hook.
    func enqueueWebhooks(_ events: [WebhookEvent]) async throws

    /// Takes up to `limit` deliveries due at `now` for `hooks`, each the oldest pending of its
    /// hook and room (so that a room's events arrive in order), and leases them for
    /// `leaseSeconds`: no other dispatcher (another node) takes them meanwhile.
    func claimWebhooks(hooks: [String], now: Double, leaseSeconds: Double, limit: Int) async throws -> [WebhookDelivery]

    /// Records what became of a claimed delivery.
    func settleWebhook(row: Int64, _ settlement: WebhookSettlement) async throws

    /// Pending and failed deliveries by hook (hooks no longer configured included).
    func webhookBacklog() async throws -> [String: WebhookBacklog]

    /// Makes a hook's failed deliveries pending again, due now, their age counted from now;
    /// returns how many.
    func retryWebhooks(hook: String, now: Double) async throws -> Int
}

/// `append` stored the messages of some rooms and then failed: `stored` holds, in batch
/// order, each message as stored or nil for those that were not.
public struct PartialAppend: Error {
    public let stored: [ChatMessage?]
    public let underlying: any Error

    public init(stored: [ChatMessage?], underlying: any Error) {
        self.stored = stored
        self.underlying = underlying
    }
}

/// A store that can also append on the caller's thread, blocking it (SQLite). The committer
/// does so from a thread of its own: with `append` each batch crossed from the concurrency
/// pool to GRDB's writer thread and back, two context switches that on a saturated core
/// made batches smaller and cost fan-out ~20 % (issue 14). Never call it from an event loop
/// or a task.
public protocol BlockingAppend: ChatStore {
    func appendBlocking(_ batch: [ChatMessage]) throws -> [ChatMessage]
}
