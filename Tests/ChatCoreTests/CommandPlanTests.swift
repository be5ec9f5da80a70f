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
