import ChatCore
import Foundation
import Testing

@testable import ChatStore

@Suite struct SQLiteStoreTests {
    let path = NSTemporaryDirectory() + "chatd-store-\(UUID().uuidString)/history.sqlite"

    func message(_ room: String, _ seq: UInt64, from: String = "masa") -> ChatMessage {
        ChatMessage(id: "id-\(room)-\(seq)", seq: seq, room: room, from: from, text: "text \(seq)", sentAt: "2026-11-26T00:00:00.000Z")
    }

    @Test func appendsAndReadsBackInOrder() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append((1...10).map { message("a", $0) } + [message("b", 1)])
        #expect(try await store.recent(room: "a", limit: 3).map(\.seq) == [8, 9, 10])
        #expect(try await store.messages(room: "a", after: 7, limit: 100).map(\.seq) == [8, 9, 10])
        #expect(try await store.messages(room: "a", after: 2, limit: 2).map(\.seq) == [3, 4])
        #expect(try await store.messages(room: "a", before: 4, limit: 2).map(\.seq) == [2, 3])
        #expect(try await store.oldestSequence(room: "a") == 1)
        #expect(try await store.oldestSequence(room: "none") == nil)
        #expect(try await store.lastSequences() == ["a": 10, "b": 1])
        #expect(try await store.recent(room: "b", limit: 5) == [message("b", 1)])
    }

    @Test func aReplyKeepsTheSeqItAnswers() async throws {
        let store = try SQLiteStore(path: path)
        var reply = message("a", 2)
        reply.replyTo = 1
        try await store.append([message("a", 1), reply])
        #expect(try await store.recent(room: "a", limit: 5).map(\.replyTo) == [nil, 1])
    }

    @Test func survivesReopening() async throws {
        do {
            let store = try SQLiteStore(path: path)
            try await store.append([message("a", 1), message("a", 2)])
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.recent(room: "a", limit: 10).map(\.text) == ["text 1", "text 2"])
        #expect(try await reopened.lastSequences()["a"] == 2)
    }

    @Test func aBatchIsAllOrNothing() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message("a", 1)])
        // seq 1 again violates the primary key: the whole batch is refused.
        await #expect(throws: (any Error).self) { try await store.append([message("a", 2), message("a", 1)]) }
        #expect(try await store.recent(room: "a", limit: 10).map(\.seq) == [1])
    }

    /// A purge goes in parts of up to the limit, each by room, then number; a short part is
    /// the last; what was sent after `sentUpTo` is kept.
    @Test func purgeGoesInParts() async throws {
        let store = try SQLiteStore(path: path)
        var late = message("b", 6, from: "gone")
        late.sentAt = "2026-11-26T00:00:00.001Z"
        try await store.append(
            (1...5).map { message("b", $0, from: "gone") } + [late]
                + (1...4).map { message("a", $0, from: $0 == 2 ? "kept" : "gone") })
        var parts: [[String]] = []
        for _ in 0..<3 {
            parts.append(
                try await store.purge(sender: "gone", sentUpTo: "2026-11-26T00:00:00.000Z", limit: 4).map { "\($0.room)\($0.seq)" })
        }
        #expect(parts.map(\.count) == [4, 4, 0])
        #expect(parts.allSatisfy { $0 == $0.sorted() })
        #expect(Set(parts.joined()) == ["a1", "a3", "a4", "b1", "b2", "b3", "b4", "b5"])
        #expect(try await store.recent(room: "a", limit: 10).map(\.from) == ["kept"])
        #expect(try await store.recent(room: "b", limit: 10).map(\.seq) == [6])
    }

    /// Commits never checkpoint (the WAL only grows); the background connection copies it all
    /// into the database file without blocking them.
    @Test func checkpointsComeFromTheCheckpointer() async throws {
        let store = try SQLiteStore(path: path)
        for n in 1...50 { try await store.append([message("r", UInt64(n))]) }
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        #expect(wal > 50 * 1024)  // 50 commits, several pages each, none checkpointed
        let (frames, checkpointed) = try store.checkpoint()
        #expect(frames > 50 && checkpointed == frames)
        try await store.append([message("r", 51)])
        #expect(try await store.messages(room: "r", after: 0, limit: 100).count == 51)
    }

    @Test func fullSynchronousIsAccepted() async throws {
        let store = try SQLiteStore(path: path, synchronous: .full)
        try await store.append([message("a", 1)])
        #expect(try await store.lastSequences()["a"] == 1)
    }
}

@Suite struct RetentionStoreTests {
    let path = NSTemporaryDirectory() + "chatd-store-\(UUID().uuidString)/history.sqlite"

    func message(_ seq: UInt64, at sentAt: String) -> ChatMessage {
        ChatMessage(id: "\(seq)", seq: seq, room: "r", from: "f", text: "t\(seq)", sentAt: sentAt)
    }

    @Test func byCountKeepsTheNewest() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append((1...10).map { message($0, at: "2026-01-01T00:00:00.000Z") })
        let (count, upTo) = try await store.expire(room: "r", keepLast: 4, sentBefore: nil, batch: 1000)
        #expect(count == 6 && upTo == 6)
        #expect(try await store.recent(room: "r", limit: 100).map(\.seq) == [7, 8, 9, 10])
        #expect(try await store.expire(room: "r", keepLast: 4, sentBefore: nil, batch: 1000).count == 0)
        // Numbers are never reused after expiry.
        #expect(try await store.lastSequences()["r"] == 10)
    }

    @Test func byAgeAndInBatches() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append((1...5).map { message($0, at: "2026-01-0\($0)T00:00:00.000Z") })
        // Older than Jan 4th: 1, 2, 3 — two per transaction.
        let first = try await store.expire(room: "r", keepLast: nil, sentBefore: "2026-01-04T00:00:00.000Z", batch: 2)
        #expect(first.count == 2 && first.upTo == 2)
        let second = try await store.expire(room: "r", keepLast: nil, sentBefore: "2026-01-04T00:00:00.000Z", batch: 2)
        #expect(second.count == 1 && second.upTo == 3)
        #expect(try await store.recent(room: "r", limit: 10).map(\.seq) == [4, 5])
        #expect(try await store.rooms() == ["r"])
    }
}

@Suite struct AuditRetentionStoreTests {
    let path = NSTemporaryDirectory() + "chatd-store-\(UUID().uuidString)/history.sqlite"

    func entry(at: Double, _ target: String) -> AuditEntry {
        AuditEntry(at: at, actor: "chatctl", action: "mute", target: target, reason: "")
    }

    @Test func oldEntriesGoOldestFirstInBatches() async throws {
        let store = try SQLiteStore(path: path)
        // Recorded out of time order: deletion follows `at`, not insertion.
        for (at, target) in [(300.0, "c"), (100.0, "a"), (500.0, "e"), (200.0, "b"), (400.0, "d")] {
            try await store.audit(entry(at: at, target))
        }
        #expect(try await store.expireAudit(before: 400, batch: 2) == 2)
        #expect(try await store.auditLog(since: 0, limit: 10).map(\.target).sorted() == ["c", "d", "e"])
        #expect(try await store.expireAudit(before: 400, batch: 2) == 1)
        #expect(try await store.expireAudit(before: 400, batch: 2) == 0)
        #expect(try await store.auditLog(since: 0, limit: 10).map(\.target).sorted() == ["d", "e"])
    }

    @Test func aLargeBacklogIsDeletedInBoundedTransactions() async throws {
        let store = try SQLiteStore(path: path)
        for i in 0..<2500 { try await store.audit(entry(at: Double(i), "t\(i)")) }
        try await store.audit(entry(at: 1e12, "recent"))
        var passes: [Int] = []
        while true {
            let count = try await store.expireAudit(before: 1e9, batch: 1000)
            passes.append(count)
            if count < 1000 { break }
        }
        #expect(passes == [1000, 1000, 500])
        #expect(try await store.auditLog(since: 0, limit: 10).map(\.target) == ["recent"])
        // Nothing before the epoch: a cutoff of 0 deletes nothing.
        #expect(try await store.expireAudit(before: 0, batch: 1000) == 0)
    }
}
