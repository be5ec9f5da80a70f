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
    /// Set when this entry of the room's log is a change, not a message: the message it
    /// changes. An edit (`reaction` nil) has the new text as `text`; `sentAt` is when the
    /// change was made, `from` and `author` who made it. A change takes a number in the room
    /// like a message, so that a resume from `since` (and the cluster's in-order delivery)
    /// carries it in its place.
    public var editOf: MessageRef?
    /// A message: when it was last edited (ISO 8601), nil when never.
    public var editedAt: String?
    /// A change that adds or removes a reaction (`editOf` names its message).
    public var reaction: ReactionChange?
    /// A change that deletes its message (`editOf`): what is left of it in the log, so that a
    /// resume from before it learns of it. It holds nothing of the message.
    public var deletion = false
    /// A message: its reactions now; a reaction change: its message's reactions after it.
    public var reactions: [ReactionCount] = []
    /// The reactions of one reader among `reactions` (a copy made for that reader).
    public var mine: [String]?

    public init(
        id: String, seq: UInt64, room: String, from: String, text: String, sentAt: String, author: String = "",
        data: String? = nil, nonce: String? = nil, replyTo: UInt64? = nil, editOf: MessageRef? = nil, editedAt: String? = nil,
        reaction: ReactionChange? = nil, reactions: [ReactionCount] = [], deletion: Bool = false
    ) {
        self.deletion = deletion
        self.reaction = reaction
        self.reactions = reactions
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
        if !reactions.isEmpty { ReactionCount.write(reactions, as: "reactions", to: &w) }
        if let mine, !mine.isEmpty {
            w.key("mine")
            w.beginArray()
            for emoji in mine { w.value(emoji) }
            w.endArray()
        }
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
    /// True when `author` may still change this message as its author (delete it, edit it):
    /// it is theirs and was sent at most `windowSeconds` before `nowMilliseconds` (a window of
    /// 0 allows nothing).
    public func isChangeable(by author: String, windowSeconds: Double, nowMilliseconds: Int64) -> Bool {
        windowSeconds > 0 && self.author == author
            && Double(nowMilliseconds - (Timestamp.milliseconds(iso8601: sentAt) ?? 0)) <= windowSeconds * 1000
    }

    /// True for a message, false for a change of one (`editOf`).
    public var isMessage: Bool { editOf == nil }
    public var isEdit: Bool { editOf != nil && reaction == nil && !deletion }

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

    /// In place of `change`, whose message is gone: a deletion of it, holding nothing of the
    /// change (the store stores and sends this instead).
    public static func gone(_ change: ChatMessage) -> ChatMessage {
        ChatMessage(
            id: change.id, seq: change.seq, room: change.room, from: "", text: "", sentAt: change.sentAt, editOf: change.editOf,
            deletion: true)
    }

    /// `self` (a message) with a change applied: an edit's text, or a reaction change's counts.
    public func applying(_ change: ChatMessage) -> ChatMessage {
        var changed = self
        if change.reaction != nil {
            changed.reactions = change.reactions
        } else {
            changed.text = change.text
            changed.editedAt = change.sentAt
        }
        return changed
    }

    /// A deletion's fields as the `deleted` event carries them.
    func writeDeletionFields(to w: inout JSONWriter) {
        guard let editOf else { return }
        w.field("seq", editOf.seq)
        w.field("id", editOf.id)
        w.field("at", seq)
    }

    /// A reaction change's fields as the `reactions` event and a resume's `reactions` carry
    /// them: the message (`seq`, `id`), its `counts` after the change, and the change itself
    /// (`emoji`, `added`, `by`, and its own place `at`).
    func writeReactionFields(to w: inout JSONWriter) {
        guard let editOf, let reaction else { return }
        w.field("seq", editOf.seq)
        w.field("id", editOf.id)
        ReactionCount.write(reactions, as: "counts", to: &w)
        w.field("emoji", reaction.emoji)
        w.field("added", reaction.added)
        w.field("by", from)
        w.field("at", seq)
    }
}

/// A text a message had before an edit replaced it.
public struct MessageVersion: Sendable, Equatable, Codable {
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

/// How many reacted to a message with one emoji.
public struct ReactionCount: Sendable, Equatable {
    public var emoji: String
    public var count: Int

    public init(emoji: String, count: Int) {
        self.emoji = emoji
        self.count = count
    }

    /// `"key":{"👍":2,…}`, in the order the emoji were first used.
    static func write(_ counts: [ReactionCount], as key: String, to w: inout JSONWriter) {
        w.key(key)
        w.beginObject()
        for c in counts { w.field(c.emoji, c.count) }
        w.endObject()
    }
}

/// A change that adds (`added`) or removes one reader's `emoji` on a message.
public struct ReactionChange: Sendable, Equatable {
    public var emoji: String
    public var added: Bool

    public init(emoji: String, added: Bool) {
        self.emoji = emoji
        self.added = added
    }
}
