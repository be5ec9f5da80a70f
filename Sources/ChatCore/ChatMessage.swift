/// One chat message as the article's protocol carries it, plus `seq`, the message's
/// position in its room (strictly increasing), which clients may ignore.
public struct ChatMessage: Sendable, Equatable {
    public var id: String
    public var seq: UInt64
    public var room: String
    public var from: String
    public var text: String
    public var sentAt: String
    /// Who may delete it as its author: chatd's key for the sender's credential and name.
    /// Never sent to clients.
    public var author: String
    /// A JSON payload published by the server (`POST /api/publish`), as compact JSON text;
    /// nil for chat messages.
    public var data: String?
    /// The sender's own id for it (`MessageNonce`), kept with it so that a resend finds it.
    /// Never sent to clients: it is the sender's, and only its duplicate answer names it.
    public var nonce: String?
    /// The `seq` of the message in the same room this one answers (`replyTo`), if any.
    public var replyTo: UInt64?
    /// Set when this entry of the room's log is an edit, not a message: the message it
    /// changes. Its `text` is the new text, `sentAt` when the edit was made, `from` and
    /// `author` the editor's. An edit takes a number in the room like a message, so that a
    /// resume from `since` (and the cluster's in-order delivery) carries it in its place.
    public var editOf: MessageRef?
    /// A message: when it was last edited (ISO 8601), nil when never.
    public var editedAt: String?

    public init(
        id: String, seq: UInt64, room: String, from: String, text: String, sentAt: String, author: String = "",
        data: String? = nil, nonce: String? = nil, replyTo: UInt64? = nil, editOf: MessageRef? = nil, editedAt: String? = nil
    ) {
        self.replyTo = replyTo
        self.editOf = editOf
        self.editedAt = editedAt
        self.author = author
        self.data = data
        self.nonce = nonce
        self.id = id
        self.seq = seq
        self.room = room
        self.from = from
        self.text = text
        self.sentAt = sentAt
    }

    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("id", id)
        w.field("seq", seq)
        w.field("room", room)
        w.field("from", from)
        w.field("text", text)
        w.field("sentAt", sentAt)
        if let replyTo { w.field("replyTo", replyTo) }
        if let editedAt { w.field("editedAt", editedAt) }
        if let data {
            w.key("data")
            w.raw(data)
        }
        w.endObject()
    }
}

/// A message by its place and id (what an edit changes).
public struct MessageRef: Sendable, Equatable, Hashable {
    public var seq: UInt64
    public var id: String

    public init(seq: UInt64, id: String) {
        self.seq = seq
        self.id = id
    }
}

extension ChatMessage {
    /// True for a message, false for an edit (`editOf`).
    public var isMessage: Bool { editOf == nil }

    /// An edit's fields as the `edited` event and a resume's `edits` carry them: the message
    /// changed (`seq`, `id`), its new `text`, `editedAt`, who edited it (`by`) and the
    /// edit's own place in the room (`at`).
    func writeEditFields(to w: inout JSONWriter) {
        guard let editOf else { return }
        w.field("seq", editOf.seq)
        w.field("id", editOf.id)
        w.field("text", text)
        w.field("editedAt", sentAt)
        w.field("by", from)
        w.field("at", seq)
    }

    /// `self` (a message) with an edit applied.
    public func applying(_ edit: ChatMessage) -> ChatMessage {
        var changed = self
        changed.text = edit.text
        changed.editedAt = edit.sentAt
        return changed
    }
}

/// A text a message had before an edit replaced it.
public struct MessageVersion: Sendable, Equatable {
    public var text: String
    /// The editor's name, and when (ISO 8601).
    public var replacedBy: String
    public var replacedAt: String

    public init(text: String, replacedBy: String, replacedAt: String) {
        self.text = text
        self.replacedBy = replacedBy
        self.replacedAt = replacedAt
    }
}
