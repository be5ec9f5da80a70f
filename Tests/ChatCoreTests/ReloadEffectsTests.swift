import Testing

@testable import ChatCore

/// Reload effects on open sessions without a socket (issue 14, item 2).
@Suite struct ReloadEffectsTests {
    static func identity(_ role: Role, may: [String] = ["*"], guest: Bool = false, name: String = "from-config") -> Identity {
        Identity(name: name, role: role, rooms: RoomPatterns(may)!, guestNames: guest, userKey: "credential:x")
    }

    @Test func aGuestKeepsTheNameItChoseAndANamedCredentialTakesItsNewName() {
        #expect(ReloadEffects.identity(Self.identity(.user, guest: true), chosenName: "bob").name == "bob")
        #expect(ReloadEffects.identity(Self.identity(.user, name: "Alice B."), chosenName: "alice").name == "Alice B.")
    }

    @Test func aNarrowedCredentialLeavesTheRoomsItNoLongerCoversInJoinOrder() {
        let narrowed = Self.identity(.user, may: ["team-*"])
        let rooms = ["lobby", "team-a", "random", "team-b"]
        #expect(ReloadEffects.roomsToLeave(rooms, identity: narrowed, rules: RoomRules()) == ["lobby", "random"])
        // Admins use every room, whatever their list says.
        #expect(ReloadEffects.roomsToLeave(rooms, identity: Self.identity(.admin, may: ["team-*"]), rules: RoomRules()).isEmpty)
    }

    @Test func aRoomMadeModeratorOnlyIsLeftByUsersNotByModerators() {
        let rules = RoomRules(["staff": RoomRule(join: .moderators)])
        #expect(ReloadEffects.roomsToLeave(["lobby", "staff"], identity: Self.identity(.user), rules: rules) == ["staff"])
        #expect(ReloadEffects.roomsToLeave(["lobby", "staff"], identity: Self.identity(.moderator), rules: rules).isEmpty)
        // A send rule does not make anyone leave: members may still read.
        let readOnly = RoomRules(["lobby": RoomRule(send: .server)])
        #expect(ReloadEffects.roomsToLeave(["lobby"], identity: Self.identity(.user), rules: readOnly).isEmpty)
    }
}
