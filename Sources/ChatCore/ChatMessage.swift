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

    public init(
        id: String, seq: UInt64, room: String, from: String, text: String, sentAt: String, author: String = "",
        data: String? = nil, nonce: String? = nil, replyTo: UInt64? = nil
    ) {
        self.replyTo = replyTo
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
        if let data {
            w.key("data")
            w.raw(data)
        }
        w.endObject()
    }
}
