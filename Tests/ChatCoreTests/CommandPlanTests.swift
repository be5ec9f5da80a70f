import Testing

@testable import ChatCore

/// Issue 14, item 2: the session protocol — a client command against the session as it is
/// now, to what the connection does — without a socket.
@Suite struct CommandPlanTests {
    static let rules = RoomRules([
        "announcements": RoomRule(send: .moderators),
        "staff-*": RoomRule(join: .moderators),
        "dashboard": RoomRule(send: .server, slowConsumer: .dropOldest),
        "small": RoomRule(maxMembers: 2),
    ])

    static func session(
        _ role: Role = .user, rooms: [String] = ["lobby"], may: [String] = ["*"], maxRooms: Int = 3
    ) -> CommandPlan.Session {
        let identity = Identity(name: "ann", role: role, rooms: RoomPatterns(may)!, userKey: "credential:ann")
        return CommandPlan.Session(identity: identity, primaryRoom: "lobby", rooms: rooms, maxRooms: maxRooms, rules: rules)
    }

    static func plan(_ command: ClientCommand, _ session: CommandPlan.Session = session(), muted: Bool = false) -> CommandPlan {
        CommandPlan.plan(command, for: session) { muted }
    }

    @Test func typingIsToldInRoomsTheSenderMaySendToAndDroppedSilentlyElsewhere() {
        #expect(ClientCommand.decode(Array(#"{"type":"typing"}"#.utf8), maxChars: 10) == .success(.typing(room: nil)))
        #expect(ClientCommand.decode(Array(#"{"type":"typing","room":7}"#.utf8), maxChars: 10) == .failure(.badField))
        #expect(Self.plan(.typing(room: nil)) == .typing(room: "lobby"))
        #expect(Self.plan(.typing(room: "elsewhere")) == .refuse(.notJoined))
        // Muted, or a room it may not send to: nothing happens, and no error either.
        #expect(Self.plan(.typing(room: nil), muted: true) == .drop)
        #expect(Self.plan(.typing(room: "announcements"), Self.session(rooms: ["lobby", "announcements"])) == .drop)
        #expect(
            Self.plan(.typing(room: "announcements"), Self.session(.moderator, rooms: ["announcements"])) == .typing(room: "announcements"))
    }

    @Test func aReplyNamesAPositiveSeqAndTravelsWithTheMessage() {
        func decode(_ json: String) -> Result<ClientCommand, ErrorCode> { ClientCommand.decode(Array(json.utf8), maxChars: 50) }
        #expect(decode(#"{"type":"message","text":"yes","replyTo":41}"#) == .success(.message(text: "yes", room: nil, replyTo: 41)))
        #expect(decode(#"{"type":"message","text":"yes","replyTo":null}"#) == .success(.message(text: "yes", room: nil)))
        let largest = "9223372036854775807"  // 2^63−1: what history stores
        #expect(
            decode(#"{"type":"message","text":"yes","replyTo":\#(largest)}"#)
                == .success(.message(text: "yes", room: nil, replyTo: UInt64(Int64.max))))
        for bad in ["0", "-1", "1.5", "true", "\"41\"", "1e300", "[41]", "9223372036854775808", "18446744073709551615"] {
            #expect(decode(#"{"type":"message","text":"yes","replyTo":\#(bad)}"#) == .failure(.badField), "\(bad)")
        }
        #expect(Self.plan(.message(text: "yes", room: nil, replyTo: 41)) == .publish(room: "lobby", text: "yes", replyTo: 41))
        let reply = ChatMessage(id: "i", seq: 42, room: "lobby", from: "ann", text: "yes", sentAt: "t", replyTo: 41)
        #expect(String(decoding: ServerEvent.message(reply).jsonBytes(), as: UTF8.self).contains(#""sentAt":"t","replyTo":41"#))
        let plain = ChatMessage(id: "i", seq: 42, room: "lobby", from: "ann", text: "yes", sentAt: "t")
        #expect(!String(decoding: ServerEvent.message(plain).jsonBytes(), as: UTF8.self).contains("replyTo"))
    }

    @Test func typingIsToldOncePerIntervalPerConnectionAndRoom() {
        let second: UInt64 = 1_000_000_000
        #expect(Typing.allowed(last: 0, now: 5))
        #expect(!Typing.allowed(last: 10 * second, now: 11 * second))
        #expect(Typing.allowed(last: 10 * second, now: 12 * second))
        // A clock that went back (it is monotonic, but never trap on it).
        #expect(Typing.allowed(last: 10 * second, now: 1))
        #expect(ServerEvent.typing(room: "lobby", from: "ann").jsonBytes() == Array(#"{"type":"typing","room":"lobby","from":"ann"}"#.utf8))
    }

    @Test func aMessageWithoutARoomGoesToTheUpgradeRoom() {
        #expect(Self.plan(.message(text: "hi", room: nil)) == .publish(room: "lobby", text: "hi"))
        #expect(Self.plan(.message(text: "hi", room: "elsewhere")) == .refuse(.notJoined))
    }

    @Test func sendingFollowsTheRoomRuleAndTheMute() {
        let member = Self.session(rooms: ["lobby", "announcements", "dashboard"])
        #expect(Self.plan(.message(text: "x", room: "announcements"), member) == .refuse(.readOnly))
        #expect(Self.plan(.message(text: "x", room: "dashboard"), member) == .refuse(.readOnly))
        let moderator = Self.session(.moderator, rooms: ["lobby", "announcements", "dashboard"])
        #expect(Self.plan(.message(text: "x", room: "announcements"), moderator) == .publish(room: "announcements", text: "x"))
        // Only the server publishes to a `server` room, moderators included.
        #expect(Self.plan(.message(text: "x", room: "dashboard"), moderator) == .refuse(.readOnly))
        #expect(Self.plan(.message(text: "x", room: nil), muted: true) == .refuse(.muted))
    }

    /// A reload may take a room from the identity while it is in it: it can no longer send there.
    @Test func aRoomTheCredentialNoLongerCoversIsForbidden() {
        let narrowed = Self.session(rooms: ["lobby"], may: ["team-*"])
        #expect(Self.plan(.message(text: "x", room: nil), narrowed) == .refuse(.forbidden))
        #expect(Self.plan(.history(before: nil, limit: 50, room: nil), narrowed) == .refuse(.forbidden))
        #expect(Self.plan(.delete(seq: 3, room: nil), narrowed) == .refuse(.forbidden))
    }

    @Test func joiningChecksMembershipRulesAndTheRoomCount() {
        #expect(Self.plan(.join(room: "lobby", since: nil)) == .alreadyJoined(room: "lobby"))
        #expect(Self.plan(.join(room: "staff-ops", since: nil)) == .refuse(.forbidden))
        #expect(
            Self.plan(.join(room: "staff-ops", since: 4), Self.session(.moderator))
                == .join(room: "staff-ops", since: 4, rule: RoomRule(join: .moderators)))
        #expect(Self.plan(.join(room: "small", since: nil)) == .join(room: "small", since: nil, rule: RoomRule(maxMembers: 2)))
        #expect(Self.plan(.join(room: "four", since: nil), Self.session(rooms: ["a", "b", "c"])) == .refuse(.tooManyRooms))
        #expect(Self.plan(.join(room: "x", since: nil), Self.session(may: ["lobby"])) == .refuse(.forbidden))
    }

    @Test func leavingAndReadingNeedMembership() {
        #expect(Self.plan(.leave(room: "lobby")) == .leave(room: "lobby"))
        #expect(Self.plan(.leave(room: "other")) == .refuse(.notJoined))
        #expect(Self.plan(.catchUp(since: 7, room: nil)) == .catchUp(room: "lobby", since: 7))
        #expect(Self.plan(.catchUp(since: 7, room: "other")) == .refuse(.notJoined))
        #expect(Self.plan(.history(before: 10, limit: 20, room: "lobby")) == .history(room: "lobby", before: 10, limit: 20))
        // Not joined anywhere (the upgrade room left): a command without a room has none.
        #expect(Self.plan(.history(before: nil, limit: 20, room: nil), Self.session(rooms: [])) == .refuse(.notJoined))
    }

    @Test func aDeleteCarriesWhetherTheActorModerates() {
        #expect(Self.plan(.delete(seq: 3, room: nil)) == .delete(room: "lobby", seq: 3, asModerator: false))
        #expect(Self.plan(.delete(seq: 3, room: nil), Self.session(.admin)) == .delete(room: "lobby", seq: 3, asModerator: true))
    }

    @Test func theMuteIsLookedUpOnlyForAMessage() {
        var asked = 0
        _ = CommandPlan.plan(.ping, for: Self.session()) {
            asked += 1
            return true
        }
        _ = CommandPlan.plan(.message(text: "x", room: "nowhere"), for: Self.session()) {
            asked += 1
            return true
        }
        #expect(asked == 0)
        #expect(Self.plan(.ping, muted: true) == .pong)
    }
}
