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
    /// The listener (re)connected: anything may have been missed; catch up from the tables.
    case resync
}

/// The JSON of a notification: short keys, because NOTIFY payloads are small.
struct Wire: Codable {
    struct Message: Codable {
        var seq: UInt64
        var id, from, text, sentAt, author: String
        var data: String?
    }

    var k: String
    var n: String
    var r: String?
    var b: UInt64?
    var m: [Message]?
    var c: Int?
    var t: String?
    var at: Double?
    var h: Int?
    var counts: [String: Int]?
    var last: Bool?
    var s: UInt64?
    var i: String?
    var until: Double?

    init(k: String, n: String) {
        self.k = k
        self.n = n
    }

    /// The event, or nil for a notification this version does not know (a newer node's).
    var event: ClusterEvent? {
        switch k {
        case "m":
            guard let r, let b else { return nil }
            return .messages(node: n, room: r, through: b, messages: m.map { list in
                list.map { ChatMessage(id: $0.id, seq: $0.seq, room: r, from: $0.from, text: $0.text, sentAt: $0.sentAt,
                                       author: $0.author, data: $0.data) }
            })
        case "p":
            guard let r, let c else { return nil }
            return .presence(node: n, room: r, online: c, text: t ?? "")
        case "d":
            guard let r, let s, let i else { return nil }
            return .deleted(node: n, room: r, seq: s, id: i)
        case "e":
            guard let r, let s else { return nil }
            return .expired(node: n, room: r, upTo: s)
        case "kick":
            guard let t, let r else { return nil }
            return .kick(node: n, name: r, reason: t)
        case "mute":
            guard let r else { return nil }
            return .mute(node: n, name: r, until: until)
        case "unmute":
            guard let r else { return nil }
            return .unmute(node: n, name: r)
        default:
            return nil
        }
    }

    /// The notification for an event this node sends (messages are sent by the database).
    init?(_ event: ClusterEvent) {
        switch event {
        case let .presence(node, room, online, text):
            self.init(k: "p", n: node)
            (r, c, t) = (room, online, text)
        case let .deleted(node, room, seq, id):
            self.init(k: "d", n: node)
            (r, s, i) = (room, seq, id)
        case let .expired(node, room, upTo):
            self.init(k: "e", n: node)
            (r, s) = (room, upTo)
        case let .kick(node, name, reason):
            self.init(k: "kick", n: node)
            (r, t) = (name, reason)
        case let .mute(node, name, until):
            self.init(k: "mute", n: node)
            (r, self.until) = (name, until)
        case let .unmute(node, name):
            self.init(k: "unmute", n: node)
            r = name
        case .messages, .snapshot, .nodeGone, .resync:
            return nil
        }
    }
}
