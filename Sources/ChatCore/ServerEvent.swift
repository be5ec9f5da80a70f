/// Everything the server sends, as the article's protocol names it, serialised once.
public enum ServerEvent: Sendable {
    /// The welcome; `role` is the credential's (`user`, `moderator`, `admin`), so that a page
    /// offers a moderator's controls to moderators only.
    case system(message: String, clientId: String, role: String? = nil)
    case history(room: String, messages: [ChatMessage], recovered: Bool? = nil, before: UInt64? = nil)
    case presence(room: String, message: String, online: Int)
    /// The answer to `join`; the room's `history` follows.
    case joined(room: String)
    /// The connection is no longer in `room`: it asked (`leave`), or lost the right (reload).
    case left(room: String, reason: String)
    /// This connection fell behind in a `drop_oldest` room and `count` events were dropped.
    case missed(room: String, count: Int)
    /// A message, or a change of one (`ChatMessage.editOf`): an edit goes out as `edited`, a
    /// reaction change as `reactions`.
    case message(ChatMessage)
    /// The answer to a resent `nonce`: the message it stored the first time, to the sender
    /// only; nothing was stored or sent to anyone else.
    case duplicate(ChatMessage, nonce: String)
    /// `nonce` repeats the nonce of the request this answers, when it carried one, so that a
    /// client with several requests in flight knows which one failed.
    case error(code: ErrorCode, message: String, nonce: String? = nil)
    /// To the sender of a `message` with a nonce, once it is stored: the broadcast itself is
    /// encoded once for every member and cannot name the nonce.
    case sent(room: String, nonce: String, seq: UInt64, id: String)
    case pong
    case deleted(room: String, seq: UInt64, id: String)
    /// The session's credential expires in `seconds`: send `refresh` with a new token.
    case expiring(seconds: Int)
    /// A `refresh` was accepted: the session now ends at `exp` (Unix seconds).
    case refreshed(exp: Int)
    /// The texts message `seq` had before its edits (`versions`, for moderators).
    case versions(room: String, seq: UInt64, versions: [MessageVersion])
    /// `from` is typing in `room` (to its other members; never stored).
    case typing(room: String, from: String)
    /// Read positions and unread counts (`ReadMarkers`).
    case reads(ReadEvent)
    /// Who is in `room` on this node; `online` counts every node, `elsewhere` the others.
    case members(room: String, list: MemberList, online: Int, elsewhere: Int)

    /// An error that answers a request naming `nonce` repeats it; other events are as they are.
    public func answering(_ nonce: String?) -> ServerEvent {
        guard let nonce, case let .error(code, message, nil) = self else { return self }
        return .error(code: code, message: message, nonce: nonce)
    }

    /// The event as UTF-8 JSON text.
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        switch self {
        case let .system(message, clientId, role):
            w.field("type", "system")
            w.field("message", message)
            w.field("clientId", clientId)
            if let role { w.field("role", role) }
        case let .history(room, messages, recovered, before):
            w.field("type", "history")
            w.field("room", room)
            w.key("messages")
            w.beginArray()
            for m in messages where m.isMessage { m.write(to: &w) }
            w.endArray()
            // A resume's changes of messages the client already has (the messages sent here
            // are in their current state); a fresh joiner needs none.
            if recovered != nil { Self.writeChanges(of: messages, to: &w) }
            if let recovered { w.field("recovered", recovered) }
            if let before { w.field("before", before) }
        case let .presence(room, message, online):
            w.field("type", "presence")
            w.field("room", room)
            w.field("message", message)
            w.field("online", online)
        case let .message(m) where m.deletion:
            w.field("type", "deleted")
            w.field("room", m.room)
            m.writeDeletionFields(to: &w)
        case let .message(m) where m.reaction != nil:
            w.field("type", "reactions")
            w.field("room", m.room)
            m.writeReactionFields(to: &w)
        case let .message(m) where !m.isMessage:
            w.field("type", "edited")
            w.field("room", m.room)
            m.writeEditFields(to: &w)
        case let .message(m):
            w.field("type", "message")
            w.key("message")
            m.write(to: &w)
        case let .duplicate(m, nonce):
            w.field("type", "message")
            w.key("message")
            m.write(to: &w)
            w.field("duplicate", true)
            w.field("nonce", nonce)
        case let .error(code, message, nonce):
            w.field("type", "error")
            w.field("code", code.rawValue)
            w.field("message", message)
            if let nonce { w.field("nonce", nonce) }
        case let .sent(room, nonce, seq, id):
            w.field("type", "sent")
            w.field("room", room)
            w.field("nonce", nonce)
            w.field("seq", seq)
            w.field("id", id)
        case .pong:
            w.field("type", "pong")
        case let .members(room, list, online, elsewhere):
            w.field("type", "members")
            w.field("room", room)
            w.key("members")
            w.beginArray()
            for m in list.members {
                w.beginObject()
                w.field("name", m.name)
                w.field("connections", m.connections)
                w.endObject()
            }
            w.endArray()
            w.field("online", online)
            w.field("elsewhere", elsewhere)
            if list.truncated { w.field("truncated", true) }
        case let .joined(room):
            w.field("type", "joined")
            w.field("room", room)
        case let .missed(room, count):
            w.field("type", "missed")
            w.field("room", room)
            w.field("count", count)
        case let .left(room, reason):
            w.field("type", "left")
            w.field("room", room)
            w.field("reason", reason)
        case let .deleted(room, seq, id):
            w.field("type", "deleted")
            w.field("room", room)
            w.field("seq", seq)
            w.field("id", id)
        case let .expiring(seconds):
            w.field("type", "expiring")
            w.field("in", seconds)
        case let .refreshed(exp):
            w.field("type", "refreshed")
            w.field("exp", exp)
        case let .versions(room, seq, versions):
            w.field("type", "versions")
            w.field("room", room)
            w.field("seq", seq)
            w.key("versions")
            w.beginArray()
            for v in versions {
                w.beginObject()
                w.field("text", v.text)
                w.field("replacedBy", v.replacedBy)
                w.field("replacedAt", v.replacedAt)
                w.endObject()
            }
            w.endArray()
        case let .typing(room, from):
            w.field("type", "typing")
            w.field("room", room)
            w.field("from", from)
        case let .reads(event):
            event.write(to: &w)
        }
        w.endObject()
        return w.bytes
    }

    public var json: String { String(decoding: jsonBytes(), as: UTF8.self) }

    /// `"edits"`, every edit in the order made, `"deleted"`, the deletions, and `"reactions"`, each message's last
    /// reaction change (its counts are the message's now), of messages not among `entries`.
    private static func writeChanges(of entries: [ChatMessage], to w: inout JSONWriter) {
        let shown = Set(entries.lazy.filter(\.isMessage).map(\.seq))
        let changes = entries.filter { $0.editOf.map { !shown.contains($0.seq) } ?? false }
        writeObjects("edits", changes.filter(\.isEdit), to: &w) { $0.writeEditFields(to: &$1) }
        writeObjects("deleted", changes.filter(\.deletion), to: &w) { $0.writeDeletionFields(to: &$1) }
        var lastReaction: [UInt64: Int] = [:]
        for (index, change) in changes.enumerated() where change.reaction != nil { lastReaction[change.editOf!.seq] = index }
        let reactions = lastReaction.values.sorted().map { changes[$0] }
        writeObjects("reactions", reactions, to: &w) { $0.writeReactionFields(to: &$1) }
    }

    /// `"key":[{…},…]`, one object per item as `fields` writes it; nothing when there is none.
    private static func writeObjects<T>(
        _ key: String, _ items: [T], to w: inout JSONWriter, _ fields: (T, inout JSONWriter) -> Void
    ) {
        guard !items.isEmpty else { return }
        w.key(key)
        w.beginArray()
        for item in items {
            w.beginObject()
            fields(item, &w)
            w.endObject()
        }
        w.endArray()
    }
}
