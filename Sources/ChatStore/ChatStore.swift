public import ChatCore

/// Where history lives. One protocol, so that SQLite (the embedded default) and a later
/// PostgreSQL store are interchangeable. Calls are synchronous and made from chatd's store
/// queue, never from an event loop.
public protocol ChatStore: Sendable {
    /// The last sequence number ever given out in each room (kept even when the messages
    /// themselves were deleted or expired, so a number is never reused).
    func lastSequences() throws -> [String: UInt64]

    /// Appends messages in one transaction; when it returns they are durable (see
    /// `SQLiteStore` for what that means against a crash).
    func append(_ batch: [ChatMessage]) throws

    /// The newest `limit` messages of a room, oldest first.
    func recent(room: String, limit: Int) throws -> [ChatMessage]

    /// Messages with `seq > after`, oldest first, at most `limit`.
    func messages(room: String, after: UInt64, limit: Int) throws -> [ChatMessage]

    /// Messages with `seq < before`, the newest `limit` of them, oldest first.
    func messages(room: String, before: UInt64, limit: Int) throws -> [ChatMessage]

    /// The oldest sequence number still held for a room, or nil when none is.
    func oldestSequence(room: String) throws -> UInt64?
}
