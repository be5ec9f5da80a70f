import ChatCore
import Foundation
import Testing

@testable import ChatStore

/// Mutes and bans in SQLite: one row per kind and identity, upserted; expired rows are
/// neither returned nor kept; they survive reopening the file.
@Suite struct RestrictionStoreTests {
    let path = NSTemporaryDirectory() + "chatd-restrictions-\(UUID().uuidString)/history.sqlite"
    let now = 1_900_000_000.0

    func restriction(_ kind: Restriction.Kind, _ target: String, until: Double?, reason: String = "spam") -> Restriction {
        Restriction(kind: kind, target: target, until: until, actor: "chatctl (root, pid 1)", reason: reason, createdAt: now)
    }

    @Test func aReBanReplacesTheFirst() async throws {
        let store = try SQLiteStore(path: path)
        try await store.setRestriction(restriction(.ban, "guest:mallory", until: now + 60))
        try await store.setRestriction(restriction(.ban, "guest:mallory", until: nil, reason: "again"))
        try await store.setRestriction(restriction(.mute, "guest:mallory", until: now + 60))
        let held = try await store.restrictions(now: now)
        #expect(
            held == [restriction(.ban, "guest:mallory", until: nil, reason: "again"), restriction(.mute, "guest:mallory", until: now + 60)])
    }

    @Test func expiredOnesAreNeitherReturnedNorKept() async throws {
        let store = try SQLiteStore(path: path)
        try await store.setRestriction(restriction(.mute, "credential:bob", until: now + 10))
        try await store.setRestriction(restriction(.ban, "credential:eve", until: nil))
        #expect(try await store.restrictions(now: now + 9.9).map(\.target) == ["credential:eve", "credential:bob"])
        #expect(try await store.restrictions(now: now + 10).map(\.target) == ["credential:eve"])
        let rows = try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM restrictions") }
        #expect(rows == 1)
    }

    @Test func removingSaysWhetherOneWasInForce() async throws {
        let store = try SQLiteStore(path: path)
        try await store.setRestriction(restriction(.ban, "guest:mallory", until: nil))
        try await store.setRestriction(restriction(.mute, "guest:mallory", until: now - 1))
        #expect(try await store.removeRestriction(kind: .ban, target: "guest:mallory", now: now))
        #expect(try await !store.removeRestriction(kind: .ban, target: "guest:mallory", now: now))
        // Expired: not in force, so false, and the row goes all the same.
        #expect(try await !store.removeRestriction(kind: .mute, target: "guest:mallory", now: now))
        #expect(try await store.restrictions(now: 0).isEmpty)
    }

    @Test func theySurviveReopening() async throws {
        do {
            let store = try SQLiteStore(path: path)
            try await store.setRestriction(restriction(.ban, "jwt:https://issuer:sub", until: now + 3600))
            try await store.setRestriction(restriction(.mute, "token:abc:bob", until: nil))
        }
        let reopened = try SQLiteStore(path: path)
        #expect(
            try await reopened.restrictions(now: now) == [
                restriction(.ban, "jwt:https://issuer:sub", until: now + 3600), restriction(.mute, "token:abc:bob", until: nil),
            ])
    }

    /// An operator's duration never traps: not a number, infinite or huge is "until lifted".
    @Test(arguments: [Double.nan, .infinity, -.infinity, 1e10, .greatestFiniteMagnitude])
    func anyDurationIsSafe(seconds: Double) {
        #expect(Restriction.until(seconds: seconds, now: now) == nil)
    }

    @Test func aDurationEndsThatLongFromNow() {
        #expect(Restriction.until(seconds: 90, now: now) == now + 90)
        #expect(Restriction.until(seconds: -5, now: now) == now)
        #expect(Restriction.until(seconds: nil, now: now) == nil)
    }
}
