public import ChatCore
import Foundation

/// What one node tells the others through NOTIFY, as chatd acts on it. Message batches are
/// written by `PostgresStore.appendQuery` inside the inserting statement; the rest by
/// `ClusterBus`.
public enum ClusterEvent: Sendable, Equatable {
    /// Messages `from...through` of a room were committed; `messages` is nil when they did
    /// not fit in a notification (read them from the table).
    case messages(node: String, room: String, through: UInt64, messages: [ChatMessage]?)
    /// A member joined or left on `node`, which now has `online` members in `room`.
    case presence(node: String, room: String, online: Int, text: String)
    /// Every room in which `node` has members, with their counts (its heartbeat).
    case snapshot(node: String, counts: [String: Int])
    /// `node` was not heard from within the node timeout.
    case nodeGone(node: String)
    case deleted(node: String, room: String, seq: UInt64, id: String)
    case expired(node: String, room: String, upTo: UInt64)
    case kick(node: String, name: String, reason: String)
    /// Muted until (seconds since 1970; nil: until unmuted).
    case mute(node: String, name: String, until: Double?)
    case unmute(node: String, name: String)
    /// Banned until (nil: until unbanned): the upgrade is refused, and connections closed.
    case ban(node: String, name: String, until: Double?)
    case unban(node: String, name: String)
    /// Someone on `node` is typing in `room` (`typing`; never stored).
    case typing(node: String, room: String, from: String)
    /// `reader`'s position in `room` moved to `seq` (`ReadMarkers`): its connections here are told.
    case read(node: String, room: String, reader: String, seq: UInt64)
    /// The listener (re)connected: anything may have been missed; catch up from the tables.
    case resync
}

/// The JSON of a notification. Its keys are one or two letters (`CodingKeys`), because a
/// NOTIFY payload holds at most 8000 bytes and a batch of messages should fit; the SQL in
/// `PostgresStore.appendQuery` writes the same keys.
struct ClusterNotification: Codable {
    /// A message batch of `node`'s own, as `PostgresStore.appendQuery` writes it, cut to its
    /// head (room and numbers); nil for anything else. A node hears its own batches back; it
    /// delivered them when they committed, and the numbers are all it needs in case a
    /// commit's answer was lost, so it need not decode (on a busy node: ~10 % of its CPU)
    /// the messages. json_build_object writes `{"k" : "m", "n" : …` with "m" last, and a
    /// quote inside a JSON string is always escaped, so the first `, "m" : [` is the key.
    /// A node name needs no escaping (1-32 of a-z A-Z 0-9 _ -).
    static func head(ofOwnBatch payload: String, node: String) -> String? {
        guard payload.hasPrefix(#"{"k" : "m", "n" : ""# + node + #"", "#),
            let messages = payload.range(of: #", "m" : ["#)
        else { return nil }
        return payload[..<messages.lowerBound] + "}"
    }

    struct Message: Codable {
        var seq: UInt64
        var id, from, text, sentAt, author: String
        var data: String?
        var replyTo: UInt64?
        var editOf: UInt64?
        var editOfID: String?
        var reaction: String?
        var added: Bool?
        /// A reaction change's counts, as the stores keep them (`Reactions.encode`).
        var reactions: String?
        var deletion: Bool?
    }

    /// "m" messages, "p" presence, "d" deleted, "e" expired, "h" heartbeat, "kick", "mute", "unmute", "ban", "unban",
    /// "t" typing, "rd" a read marker.
    var kind: String
    var node: String
    /// The room; for "kick", "mute", "unmute", "ban" and "unban" the user's name.
    var subject: String?
    /// "m": the last sequence number of the batch.
    var through: UInt64?
    var messages: [Message]?
    /// "p": the sender's members in the room.
    var count: Int?
    /// "p": the presence text; "kick": the reason; "rd": the reader.
    var text: String?
    /// "h": when the heartbeat was sent (seconds since 1970), for the lag.
    var beatAt: Double?
    /// "h": the heartbeat's number; a heartbeat too big for one notification comes in parts.
    var beat: Int?
    var counts: [String: Int]?
    var lastPart: Bool?
    /// "d": the deleted message; "e": the last expired one; "rd": the position read.
    var seq: UInt64?
    var messageID: String?
    var until: Double?

    enum CodingKeys: String, CodingKey {
        case kind = "k"
        case node = "n"
        case subject = "r"
        case through = "b"
        case messages = "m"
        case count = "c"
        case text = "t"
        case beatAt = "at"
        case beat = "h"
        case counts
        case lastPart = "last"
        case seq = "s"
        case messageID = "i"
        case until
    }

    init(kind: String, node: String) {
        self.kind = kind
        self.node = node
    }

    /// The event, or nil for a notification this version does not know (a newer node's).
    var event: ClusterEvent? {
        switch kind {
        case "m":
            guard let subject, let through else { return nil }
            return .messages(
                node: node, room: subject, through: through,
                messages: messages.map { list in
                    list.map { m in
                        var target: MessageRef?
                        if let seq = m.editOf, let id = m.editOfID { target = MessageRef(seq: seq, id: id) }
                        return ChatMessage(
                            id: m.id, seq: m.seq, room: subject, from: m.from, text: m.text, sentAt: m.sentAt,
                            author: m.author, data: m.data, replyTo: m.replyTo, editOf: target,
                            reaction: m.reaction.flatMap { emoji in m.added.map { ReactionChange(emoji: emoji, added: $0) } },
                            reactions: Reactions.decode(m.reactions), deletion: m.deletion ?? false)
                    }
                })
        case "p":
            guard let subject, let count else { return nil }
            return .presence(node: node, room: subject, online: count, text: text ?? "")
        case "d":
            guard let subject, let seq, let messageID else { return nil }
            return .deleted(node: node, room: subject, seq: seq, id: messageID)
        case "e":
            guard let subject, let seq else { return nil }
            return .expired(node: node, room: subject, upTo: seq)
        case "kick":
            guard let text, let subject else { return nil }
            return .kick(node: node, name: subject, reason: text)
        case "mute":
            guard let subject else { return nil }
            return .mute(node: node, name: subject, until: until)
        case "unmute":
            guard let subject else { return nil }
            return .unmute(node: node, name: subject)
        case "ban":
            guard let subject else { return nil }
            return .ban(node: node, name: subject, until: until)
        case "unban":
            guard let subject else { return nil }
            return .unban(node: node, name: subject)
        case "t":
            guard let subject, let text else { return nil }
            return .typing(node: node, room: subject, from: text)
        case "rd":
            guard let subject, let text, let seq else { return nil }
            return .read(node: node, room: subject, reader: text, seq: seq)
        default:
            return nil
        }
    }

    /// The notification for an event this node sends (messages are sent by the database).
    init?(_ event: ClusterEvent) {
        switch event {
        case let .presence(node, room, online, text):
            self.init(kind: "p", node: node)
            (subject, count, self.text) = (room, online, text)
        case let .deleted(node, room, seq, id):
            self.init(kind: "d", node: node)
            (subject, self.seq, messageID) = (room, seq, id)
        case let .expired(node, room, upTo):
            self.init(kind: "e", node: node)
            (subject, seq) = (room, upTo)
        case let .kick(node, name, reason):
            self.init(kind: "kick", node: node)
            (subject, text) = (name, reason)
        case let .mute(node, name, until):
            self.init(kind: "mute", node: node)
            (subject, self.until) = (name, until)
        case let .unmute(node, name):
            self.init(kind: "unmute", node: node)
            subject = name
        case let .ban(node, name, until):
            self.init(kind: "ban", node: node)
            (subject, self.until) = (name, until)
        case let .unban(node, name):
            self.init(kind: "unban", node: node)
            subject = name
        case let .typing(node, room, from):
            self.init(kind: "t", node: node)
            (subject, text) = (room, from)
        case let .read(node, room, reader, seq):
            self.init(kind: "rd", node: node)
            (subject, text, self.seq) = (room, reader, seq)
        case .messages, .snapshot, .nodeGone, .resync:
            return nil
        }
    }
}
