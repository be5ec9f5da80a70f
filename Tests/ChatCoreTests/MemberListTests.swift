import Testing

@testable import ChatCore

@Suite struct MemberListTests {
    @Test func eachNameOnceWithItsConnectionsByName() {
        let list = MemberList(names: ["bob", "ann", "bob", "cy"])
        #expect(list.members.map(\.name) == ["ann", "bob", "cy"])
        #expect(list.members.map(\.connections) == [1, 2, 1])
        #expect(!list.truncated)
    }

    @Test func aCrowdIsCutAtTheCap() {
        let list = MemberList(names: (0..<(MemberList.cap + 5)).map { String(format: "u%04d", $0) } + ["u0000"])
        #expect(list.members.count == MemberList.cap)
        #expect(list.truncated)
        #expect(list.members.first == MemberList.Member(name: "u0000", connections: 2))
    }

    @Test func aListAnswersWhileTheRoomIsUnchangedForASecondAndAlwaysForATenth() {
        let s: UInt64 = 1_000_000_000
        #expect(MemberList.answers(madeAt: 10 * s, madeAfter: 5, now: 10 * s + s / 2, changes: 5))
        #expect(!MemberList.answers(madeAt: 10 * s, madeAfter: 5, now: 11 * s, changes: 5))
        #expect(!MemberList.answers(madeAt: 10 * s, madeAfter: 5, now: 10 * s + s / 2, changes: 7))
        #expect(MemberList.answers(madeAt: 10 * s, madeAfter: 5, now: 10 * s + s / 20, changes: 7))
        #expect(MemberList(names: ["a", "a", "b"]).connections == 3)
    }

    @Test func aConnectionIsAnsweredOnceEveryTwoSeconds() {
        let s: UInt64 = 1_000_000_000
        #expect(MemberList.mayAsk(last: 0, now: 5))
        #expect(!MemberList.mayAsk(last: 10 * s, now: 11 * s))
        #expect(MemberList.mayAsk(last: 10 * s, now: 12 * s))
    }

    @Test func theAnswerHasItsShape() {
        let event = ServerEvent.members(room: "hall", list: MemberList(names: ["ann"]), online: 3, elsewhere: 2)
        #expect(
            event.json == #"{"type":"members","room":"hall","members":[{"name":"ann","connections":1}],"online":3,"elsewhere":2}"#)
    }

    @Test func onlyAMemberMayAsk() {
        #expect(ClientCommand.decode(Array(#"{"type":"members","room":"hall"}"#.utf8), maxChars: 500) == .success(.members(room: "hall")))
        #expect(ClientCommand.decode(Array(#"{"type":"members","room":"no such"}"#.utf8), maxChars: 500) == .failure(.badField))
    }
}
