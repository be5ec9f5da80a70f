import ChatCore
import Foundation
import GRDB
import Testing

@testable import ChatStore

/// Issue 17, item 5: read positions only move forward; unread counts messages, not edits
/// and not the reader's own.
@Suite struct ReadMarkerStoreTests {
    let path = NSTemporaryDirectory() + "chatd-read-\(UUID().uuidString)/history.sqlite"

    func message(_ seq: UInt64, room: String = "a", from: String = "masa") -> ChatMessage {
        ChatMessage(
            id: "\(room)-\(seq)", seq: seq, room: room, from: from, text: "text \(seq)", sentAt: "2026-12-04T00:00:0\(seq % 10).000Z",
            author: "user:\(from)")
    }

    func edit(_ seq: UInt64, of target: UInt64, by: String = "masa") -> ChatMessage {
        ChatMessage(
            id: "edit-\(seq)", seq: seq, room: "a", from: by, text: "edited", sentAt: "2026-12-04T00:01:0\(seq % 10).000Z",
            author: "user:\(by)", editOf: MessageRef(seq: target, id: "a-\(target)"))
    }

    @Test func aPositionOnlyMovesForward() async throws {
        let store = try SQLiteStore(path: path)
        #expect(try await store.markRead(reader: "user:ann", room: "a", seq: 5) == (5, true))
        #expect(try await store.markRead(reader: "user:ann", room: "a", seq: 3) == (5, false))
        #expect(try await store.markRead(reader: "user:ann", room: "a", seq: 5) == (5, false))
        #expect(try await store.markRead(reader: "user:ann", room: "a", seq: 8) == (8, true))
        // Per reader and room.
        #expect(try await store.markRead(reader: "user:bob", room: "a", seq: 2) == (2, true))
        #expect(try await store.markRead(reader: "user:ann", room: "b", seq: 1) == (1, true))
        #expect(try await store.readState(reader: "user:ann", room: "a", through: 100, limit: 10).readSeq == 8)
        #expect(try await store.readState(reader: "user:bob", room: "a", through: 100, limit: 10).readSeq == 2)
        #expect(try await store.readState(reader: "user:cy", room: "a", through: 100, limit: 10).readSeq == 0)
        let rooms = try await store.readMarkers(reader: "user:ann", limit: 10)
        #expect(rooms.map(\.room) == ["b", "a"])
        #expect(rooms.map(\.seq) == [1, 8])
        #expect(try await store.readMarkers(reader: "user:ann", limit: 1).map(\.room) == ["b"])
    }

    @Test func unreadCountsOthersMessagesAfterThePositionUpToTheEnd() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1), message(2, from: "ann"), message(3), message(4)])
        try await store.append([edit(5, of: 3), message(6, from: "bob"), message(1, room: "other")])
        func unread(_ reader: String, through: UInt64 = 100, limit: Int = 10) async throws -> Int {
            try await store.readState(reader: reader, room: "a", through: through, limit: limit).unread
        }
        // Never read: every message but ann's own; the edit is not a message.
        #expect(try await unread("user:ann") == 4)
        #expect(try await unread("user:cy") == 5)
        _ = try await store.markRead(reader: "user:ann", room: "a", seq: 3)
        #expect(try await unread("user:ann") == 2)
        // Up to the end given (what reaches the client later is counted by it).
        #expect(try await unread("user:ann", through: 4) == 1)
        // Counted up to the limit only.
        #expect(try await unread("user:cy", limit: 2) == 2)
        // A deleted message is no longer unread.
        _ = try await store.delete(room: "a", seq: 4)
        #expect(try await unread("user:ann") == 1)
    }

    @Test func positionsSurviveReopening() async throws {
        do {
            let store = try SQLiteStore(path: path)
            _ = try await store.markRead(reader: "user:ann", room: "a", seq: 4)
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.readState(reader: "user:ann", room: "a", through: 100, limit: 10).readSeq == 4)
    }

    @Test func aDatabaseOfThePreviousReleaseIsMigrated() async throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            let old = try DatabasePool(path: path)
            try SQLiteStore.migrator.migrate(old, upTo: "v8: moderation state")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO message (room, seq, id, sender, text, sent_at, author)
                        VALUES ('a', 1, 'id-1', 'masa', 'text 1', '2026-12-04T00:00:01.000Z', 'user:masa'),
                               ('a', 2, 'id-2', 'ann', 'text 2', '2026-12-04T00:00:02.000Z', 'user:ann');
                        INSERT INTO room_sequence (room, last_seq) VALUES ('a', 2);
                        """)
            }
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.readState(reader: "user:ann", room: "a", through: 2, limit: 10) == (0, 1))
        #expect(try await store.markRead(reader: "user:ann", room: "a", seq: 1) == (1, true))
        #expect(try await store.readState(reader: "user:ann", room: "a", through: 2, limit: 10) == (1, 0))
        #expect(try await store.messages(room: "a", after: 0, limit: 10).map(\.seq) == [1, 2])
    }
}
