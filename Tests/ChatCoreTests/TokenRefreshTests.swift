import Foundation
import Testing

@testable import ChatCore

/// Issue 16, item 4: a session told `expiring` before its token's end, renewed in band by a
/// token for the same user.
@Suite struct TokenRefreshTests {
    static func identity(_ userKey: String = "jwt:idp:u-1", expiresAt: Double? = 1_000) -> Identity {
        Identity(name: "ann", role: .user, userKey: userKey, expiresAt: expiresAt)
    }

    @Test func theNoticeComesTheLeadBeforeTheEndThenTheEnd() throws {
        let notice = try #require(TokenRefresh.next(expiresAt: 1_000, now: 900, aheadSeconds: 60, noticed: false))
        #expect(notice.step == .notice && notice.delay == 40)
        let end = try #require(TokenRefresh.next(expiresAt: 1_000, now: 940, aheadSeconds: 60, noticed: true))
        #expect(end.step == .end && end.delay == 60)
    }

    @Test func aTokenAlreadyInsideTheLeadIsToldAtOnce() throws {
        let notice = try #require(TokenRefresh.next(expiresAt: 1_000, now: 990, aheadSeconds: 60, noticed: false))
        #expect(notice.step == .notice && notice.delay == 0)
        #expect(TokenRefresh.secondsLeft(expiresAt: 1_000, now: 990.4) == 9)
    }

    @Test func noLeadSendsNoNotice() throws {
        let end = try #require(TokenRefresh.next(expiresAt: 1_000, now: 900, aheadSeconds: 0, noticed: false))
        #expect(end.step == .end && end.delay == 100)
        let nan = try #require(TokenRefresh.next(expiresAt: 1_000, now: 900, aheadSeconds: .nan, noticed: false))
        #expect(nan.step == .end)
    }

    @Test func noExpiryOrOneTooFarIsNotTimedAndOnePastOrNaNEndsNow() throws {
        #expect(TokenRefresh.next(expiresAt: nil, now: 0, aheadSeconds: 60, noticed: false) == nil)
        #expect(TokenRefresh.next(expiresAt: 1e16, now: 0, aheadSeconds: 60, noticed: false) == nil)
        #expect(TokenRefresh.next(expiresAt: .infinity, now: 0, aheadSeconds: 60, noticed: false) == nil)
        for expiresAt: Double in [.nan, 5, -Double.infinity] {
            let end = try #require(TokenRefresh.next(expiresAt: expiresAt, now: 10, aheadSeconds: 60, noticed: false))
            #expect(end.step == TokenRefresh.Step.end && end.delay == 0)
        }
    }

    @Test func theSecondsSentNeverTrap() {
        #expect(TokenRefresh.secondsLeft(expiresAt: .nan, now: 0) == 0)
        #expect(TokenRefresh.secondsLeft(expiresAt: .infinity, now: 0) == Int(TokenRefresh.longestWaitSeconds))
        #expect(TokenRefresh.secondsLeft(expiresAt: 1, now: 5) == 0)
        #expect(TokenRefresh.unixSeconds(.infinity) == Int(1e15))
        #expect(TokenRefresh.unixSeconds(.nan) == 0)
        #expect(TokenRefresh.unixSeconds(1_700_000_000.9) == 1_700_000_000)
    }

    @Test func onlyTheSameUserMayTakeOver() {
        #expect(TokenRefresh.verdict(current: Self.identity(), fresh: Self.identity(expiresAt: 2_000)) == nil)
        #expect(TokenRefresh.verdict(current: Self.identity(), fresh: Self.identity("jwt:idp:u-2")) == .refreshRejected)
        #expect(TokenRefresh.verdict(current: Self.identity(), fresh: Self.identity("jwt:other:u-1")) == .refreshRejected)
    }

    @Test func refreshIsDecodedStrictlyAndOnlyAnExpiringSessionRenews() {
        func decode(_ s: String) -> Result<ClientCommand, ErrorCode> { ClientCommand.decode(Array(s.utf8), maxChars: 500) }
        #expect(decode(#"{"type":"refresh","token":"a.b.c"}"#) == .success(.refresh(token: "a.b.c")))
        for bad in [
            #"{"type":"refresh"}"#, #"{"type":"refresh","token":""}"#, #"{"type":"refresh","token":5}"#,
            #"{"type":"refresh","token":null}"#,
        ] {
            #expect(decode(bad) == .failure(.badField))
        }
        let rules = RoomRules([:])
        let expiring = CommandPlan.Session(identity: Self.identity(), primaryRoom: "lobby", rooms: ["lobby"], maxRooms: 3, rules: rules)
        #expect(CommandPlan.plan(.refresh(token: "t"), for: expiring) { false } == .refresh(token: "t"))
        let lasting = CommandPlan.Session(
            identity: Self.identity("credential:ann", expiresAt: nil), primaryRoom: "lobby", rooms: ["lobby"], maxRooms: 3, rules: rules)
        #expect(CommandPlan.plan(.refresh(token: "t"), for: lasting) { false } == .refuse(.refreshRejected))
    }

    @Test func theEventsAreTheDocumentedJSON() {
        #expect(ServerEvent.expiring(seconds: 42).json == #"{"type":"expiring","in":42}"#)
        #expect(ServerEvent.refreshed(exp: 1_700_000_000).json == #"{"type":"refreshed","exp":1700000000}"#)
    }

    @Test func aTokenLongerThanAnyUpgradeCouldCarryIsABadField() {
        let long = String(repeating: "a", count: ClientCommand.maxTokenBytes + 1)
        #expect(ClientCommand.decode(Array(#"{"type":"refresh","token":"\#(long)"}"#.utf8), maxChars: 500) == .failure(.badField))
        let fits = String(repeating: "a", count: ClientCommand.maxTokenBytes)
        #expect(
            ClientCommand.decode(Array(#"{"type":"refresh","token":"\#(fits)"}"#.utf8), maxChars: 500) == .success(.refresh(token: fits)))
    }
}
