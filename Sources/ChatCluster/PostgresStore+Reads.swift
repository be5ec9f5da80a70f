public import ChatCore
import PostgresNIO

/// Reading history: the room's log (messages and edits) for windows, resumes and in-order
/// delivery; messages alone for pages of older history and lookups by number.
extension PostgresStore {
    static let columns =
        "seq, id, sender, text, sent_at, author, data, room, reply_to, edit_of, edit_of_id, edited_at, reaction, added, reactions, deletion"

    func messages(_ query: PostgresQuery) async throws -> [ChatMessage] {
        try await read(query).map(Self.message)
    }

    static func message(_ row: PostgresRow) throws -> ChatMessage {
        let (seq, id, sender, text, sentAt, author, data, room, replyTo, editOf, editOfID, editedAt, reaction, added, reactions, deletion) =
            try row.decode(
                (
                    Int64, String, String, String, String, String, String?, String, Int64?, Int64?, String?, String?, String?, Bool?,
                    String?, Bool?
                ).self)
        var target: MessageRef?
        if let editOf, let editOfID, let at = UInt64(exactly: editOf) { target = MessageRef(seq: at, id: editOfID) }
        return ChatMessage(
            id: id, seq: UInt64(seq), room: room, from: sender, text: text, sentAt: sentAt, author: author, data: data,
            replyTo: replyTo.flatMap { UInt64(exactly: $0) }, editOf: target, editedAt: editedAt,
            reaction: reaction.flatMap { emoji in added.map { ReactionChange(emoji: emoji, added: $0) } },
            reactions: Reactions.decode(reactions), deletion: deletion ?? false)
    }

    public func recent(room: String, limit: Int) async throws -> [ChatMessage] {
        let newest = try await messages(
            """
            SELECT \(unescaped: Self.columns) FROM chatd_message
            WHERE room = \(room) AND edit_of IS NULL ORDER BY seq DESC LIMIT \(Int64(limit))
            """)
        let entries = try await messages(
            """
            SELECT \(unescaped: Self.columns) FROM chatd_message
            WHERE room = \(room) ORDER BY seq DESC LIMIT \(Int64(HistoryWindow.entryLimit(messages: limit)))
            """)
        return HistoryWindow.window(messages: newest, entries: entries)
    }

    public func messages(room: String, after: UInt64, limit: Int) async throws -> [ChatMessage] {
        try await messages(
            """
            SELECT \(unescaped: Self.columns) FROM chatd_message
            WHERE room = \(room) AND seq > \(Int64(clamping: after)) ORDER BY seq LIMIT \(Int64(limit))
            """)
    }

    public func messages(room: String, before: UInt64, limit: Int) async throws -> [ChatMessage] {
        try await messages(
            """
            SELECT \(unescaped: Self.columns) FROM chatd_message
            WHERE room = \(room) AND seq < \(Int64(clamping: before)) AND edit_of IS NULL ORDER BY seq DESC LIMIT \(Int64(limit))
            """
        ).reversed()
    }

    public func oldestSequence(room: String) async throws -> UInt64? {
        try await read("SELECT min(seq) FROM chatd_message WHERE room = \(room)").first
            .flatMap { try $0.decode(Int64?.self) }.map(UInt64.init)
    }

    public func message(room: String, seq: UInt64) async throws -> ChatMessage? {
        try await messages(
            """
            SELECT \(unescaped: Self.columns) FROM chatd_message
            WHERE room = \(room) AND seq = \(Int64(clamping: seq)) AND edit_of IS NULL
            """
        ).first
    }

    public func message(room: String, author: String, nonce: String) async throws -> ChatMessage? {
        try await messages(
            """
            SELECT \(unescaped: Self.columns) FROM chatd_message
            WHERE room = \(room) AND author = \(author) AND nonce = \(nonce)
            """
        ).first
    }

    public func ownReactions(room: String, reactor: String, seqs: [UInt64]) async throws -> [UInt64: [String]] {
        guard let low = seqs.min(), let high = seqs.max() else { return [:] }
        var out: [UInt64: [String]] = [:]
        for row in try await read(
            """
            SELECT seq, emoji FROM chatd_reaction
            WHERE room = \(room) AND reactor = \(reactor) AND seq BETWEEN \(Int64(clamping: low)) AND \(Int64(clamping: high))
            ORDER BY id
            """)
        {
            let (seq, emoji) = try row.decode((Int64, String).self)
            guard let at = UInt64(exactly: seq) else { continue }
            out[at, default: []].append(emoji)
        }
        return out
    }
}
