import ChatCore
import Foundation
import GRDB
import Testing

@testable import ChatStore

@Suite struct NonceStoreTests {
    let path = NSTemporaryDirectory() + "chatd-nonce-\(UUID().uuidString)/history.sqlite"

    func message(_ seq: UInt64, author: String = "user:masa", nonce: String? = nil, id: String? = nil) -> ChatMessage {
        ChatMessage(
            id: id ?? "id-\(seq)", seq: seq, room: "a", from: "masa", text: "text \(seq)", sentAt: "2026-11-26T00:00:00.000Z",
            author: author, nonce: nonce)
    }

    @Test func aNonceIsStoredAndFound() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1, nonce: "n-1"), message(2)])
        let found = try await store.message(room: "a", author: "user:masa", nonce: "n-1")
        #expect(found == message(1, nonce: "n-1"))
        #expect(try await store.message(room: "a", author: "user:other", nonce: "n-1") == nil)
        #expect(try await store.message(room: "b", author: "user:masa", nonce: "n-1") == nil)
        #expect(try await store.recent(room: "a", limit: 5).map(\.nonce) == ["n-1", nil])
    }

    /// The unique index is the last line of defence: the second is not stored, the batch is
    /// kept, and the duplicate comes back as the original.
    @Test func theIndexRefusesASecondWithoutLosingTheBatch() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1, nonce: "n")])
        let stored = try await store.append([message(2, nonce: "n", id: "again"), message(3)])
        #expect(stored.map(\.id) == ["id-1", "id-3"])
        #expect(try await store.recent(room: "a", limit: 5).map(\.seq) == [1, 3])
        // Another author, or no nonce at all, is never a duplicate.
        try await store.append([message(4, author: "user:other", nonce: "n"), message(5), message(6)])
        #expect(try await store.recent(room: "a", limit: 10).map(\.seq) == [1, 3, 4, 5, 6])
    }

    @Test func aDeletedMessageEndsItsWindow() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1, nonce: "n")])
        _ = try await store.delete(room: "a", seq: 1)
        #expect(try await store.message(room: "a", author: "user:masa", nonce: "n") == nil)
        #expect(try await store.append([message(2, nonce: "n")]).map(\.seq) == [2])
    }

    /// A database of v3 (before nonces) keeps its rows through the v4 migration.
    @Test func migratesAVersion3Database() async throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v3: published JSON payloads")
            try await queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO message (room, seq, id, sender, text, sent_at, author, data)
                        VALUES ('a', 1, 'old-1', 'masa', 'hello', '2026-01-01T00:00:00.000Z', 'user:masa', NULL),
                               ('a', 2, 'old-2', 'api', '', '2026-01-01T00:00:01.000Z', 'server:ci', '{"k":1}');
                        INSERT INTO room_sequence (room, last_seq) VALUES ('a', 2);
                        """)
            }
            #expect(
                try await queue.read { db in
                    try Bool.fetchOne(db, sql: "SELECT count(*) > 0 FROM pragma_table_info('message') WHERE name = 'nonce'")
                } == false)
        }
        let store = try SQLiteStore(path: path)
        let rows = try await store.recent(room: "a", limit: 10)
        #expect(rows.map(\.id) == ["old-1", "old-2"])
        #expect(rows.map(\.text) == ["hello", ""])
        #expect(rows[1].data == #"{"k":1}"#)
        #expect(rows.allSatisfy { $0.nonce == nil })
        #expect(try await store.lastSequence(room: "a") == 2)
        try await store.append([message(3, nonce: "n")])
        #expect(try await store.message(room: "a", author: "user:masa", nonce: "n")?.seq == 3)
    }
}
