import ChatCore
import Foundation
import GRDB
import Testing

@testable import ChatStore

/// Issue 16, item 1: the outbox is written with the change behind each event, and hands out
/// each hook's room queue one head at a time, in order.
@Suite struct WebhookOutboxTests {
    let path = NSTemporaryDirectory() + "chatd-outbox-\(UUID().uuidString)/history.sqlite"

    static let routes = WebhookRoutes([
        .init(name: "all", events: Set(WebhookEventType.allCases), rooms: .all),
        .init(name: "team", events: [.message], rooms: RoomPatterns(["team-*"])!),
    ])

    func message(_ room: String, _ seq: UInt64, _ text: String = "hi") -> ChatMessage {
        ChatMessage(id: "id-\(room)-\(seq)", seq: seq, room: room, from: "ann", text: text, sentAt: "2026-12-04T00:00:00.000Z")
    }

    @Test func noHookNoRowAndEachMessageGoesToTheHooksThatTakeItsRoom() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message("lobby", 1)])
        #expect(try await store.webhookBacklog().isEmpty)
        store.setWebhookRoutes(Self.routes)
        try await store.append([message("lobby", 2), message("team-a", 1)])
        let backlog = try await store.webhookBacklog()
        #expect(backlog["all"]?.pending == 2 && backlog["team"]?.pending == 1)
        let claimed = try await store.claimWebhooks(
            hooks: ["all", "team"], now: Date().timeIntervalSince1970 + 1, leaseSeconds: 30, limit: 10)
        #expect(claimed.map(\.hook).sorted() == ["all", "all", "team"])
        // One event to two hooks is one id: a receiver behind both de-duplicates it.
        let team = try #require(claimed.first { $0.hook == "team" })
        #expect(claimed.filter { $0.eventID == team.eventID }.count == 2)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(team.body.utf8)) as? [String: Any])
        #expect(body["type"] as? String == "message" && body["room"] as? String == "team-a" && body["id"] as? String == team.eventID)
        #expect((body["message"] as? [String: Any])?["seq"] as? Int == 1)
    }

    @Test func aRoomsEventsGoOutOneAtATimeInOrderAndAFailureHoldsOnlyItsRoom() async throws {
        let store = try SQLiteStore(path: path)
        store.setWebhookRoutes(Self.routes)
        try await store.append([message("lobby", 1, "a"), message("lobby", 2, "b"), message("other", 1, "c")])
        let now = Date().timeIntervalSince1970 + 1
        let first = try await store.claimWebhooks(hooks: ["all"], now: now, leaseSeconds: 30, limit: 10)
        #expect(first.map(\.room) == ["lobby", "other"])
        // Leased: nothing more of either room until settled.
        #expect(try await store.claimWebhooks(hooks: ["all"], now: now, leaseSeconds: 30, limit: 10).isEmpty)
        try await store.settleWebhook(row: first[0].row, .retry(at: now + 60, error: "answered 500"))
        try await store.settleWebhook(row: first[1].row, .delivered)
        // lobby's head waits for its retry, and holds lobby's second message back.
        #expect(try await store.claimWebhooks(hooks: ["all"], now: now, leaseSeconds: 30, limit: 10).isEmpty)
        let retried = try await store.claimWebhooks(hooks: ["all"], now: now + 61, leaseSeconds: 30, limit: 10)
        #expect(retried.map(\.row) == [first[0].row] && retried[0].attempts == 1)
        // Kept as failed, it no longer holds the room: the next message goes.
        try await store.settleWebhook(row: retried[0].row, .failed(error: "too old"))
        let next = try await store.claimWebhooks(hooks: ["all"], now: now + 61, leaseSeconds: 30, limit: 10)
        #expect(next.count == 1 && next[0].body.contains("\"text\":\"b\""))
        #expect(
            try await store.webhookBacklog()["all"]
                == WebhookBacklog(pending: 1, failed: 1, oldestPendingAt: next[0].createdAt, lastError: "too old"))
        // A lease that runs out (the node died) hands the delivery out again.
        let again = try await store.claimWebhooks(hooks: ["all"], now: now + 92, leaseSeconds: 30, limit: 10)
        #expect(again.map(\.row) == [next[0].row])
        try await store.settleWebhook(row: next[0].row, .delivered)
        #expect(try await store.retryWebhooks(hook: "all", now: now + 100) == 1)
        let revived = try await store.claimWebhooks(hooks: ["all"], now: now + 100, leaseSeconds: 30, limit: 10)
        #expect(revived.map(\.row) == [first[0].row] && revived[0].attempts == 0)
    }

    @Test func deletesPurgesAndAuditEntriesWriteTheirEventsWithTheChange() async throws {
        let store = try SQLiteStore(path: path)
        store.setWebhookRoutes(WebhookRoutes([.init(name: "mod", events: [.messageDeleted, .moderation], rooms: .all)]))
        try await store.append([message("lobby", 1), message("lobby", 2), message("lobby", 3)])
        _ = try await store.delete(room: "lobby", seq: 1)
        _ = try await store.delete(room: "lobby", seq: 99)  // nothing deleted: no event
        _ = try await store.purge(sender: "ann", sentUpTo: "2099-01-01T00:00:00.000Z", limit: 10)
        try await store.audit(
            AuditEntry(at: Date().timeIntervalSince1970, actor: "op", action: "delete", target: "lobby#1 by ann", reason: "spam"))
        let claimed = try await store.claimWebhooks(hooks: ["mod"], now: Date().timeIntervalSince1970 + 2, leaseSeconds: 30, limit: 10)
        // One room's queue: only its head is handed out.
        #expect(claimed.count == 1 && claimed[0].type == "message_deleted" && claimed[0].body.contains("\"seq\":1"))
        var types: [String] = []
        var next = claimed
        while let head = next.first {
            types.append(head.type)
            try await store.settleWebhook(row: head.row, .delivered)
            next = try await store.claimWebhooks(hooks: ["mod"], now: Date().timeIntervalSince1970 + 2, leaseSeconds: 30, limit: 10)
        }
        #expect(types == ["message_deleted", "message_deleted", "message_deleted", "moderation"])
    }

    @Test func aDatabaseFromBeforeTheOutboxIsMigrated() async throws {
        // The v3 schema, as the release before webhooks left it, with a message in it.
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v3: published JSON payloads")
            try await queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO message (room, seq, id, sender, text, sent_at, author) VALUES ('old', 1, 'x', 'ann', 'from v3', '2026-01-01T00:00:00.000Z', '');
                        INSERT INTO room_sequence (room, last_seq) VALUES ('old', 1);
                        """)
            }
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.recent(room: "old", limit: 5).map(\.text) == ["from v3"])
        store.setWebhookRoutes(Self.routes)
        try await store.append([message("old", 2)])
        #expect(try await store.webhookBacklog()["all"]?.pending == 1)
    }
}
