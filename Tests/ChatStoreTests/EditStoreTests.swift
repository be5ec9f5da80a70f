import ChatCore
import Foundation
import GRDB
import Testing

@testable import ChatStore

/// Issue 17, item 1: an edit is a numbered row of the room's log that changes its message.
@Suite struct EditStoreTests {
    let path = NSTemporaryDirectory() + "chatd-edit-\(UUID().uuidString)/history.sqlite"

    func message(_ seq: UInt64, from: String = "masa", text: String? = nil) -> ChatMessage {
        ChatMessage(
            id: "id-\(seq)", seq: seq, room: "a", from: from, text: text ?? "text \(seq)", sentAt: "2026-12-04T00:00:0\(seq % 10).000Z",
            author: "user:\(from)")
    }

    func edit(_ seq: UInt64, of target: UInt64, text: String, by: String = "masa") -> ChatMessage {
        ChatMessage(
            id: "edit-\(seq)", seq: seq, room: "a", from: by, text: text, sentAt: "2026-12-04T00:01:0\(seq % 10).000Z",
            author: "user:\(by)", editOf: MessageRef(seq: target, id: "id-\(target)"))
    }

    @Test func anEditChangesItsMessageAndIsAnEntryOfTheLog() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1), message(2)])
        try await store.append([edit(3, of: 1, text: "fixed"), message(4)])
        let edited = try #require(try await store.message(room: "a", seq: 1))
        #expect(edited.text == "fixed")
        #expect(edited.editedAt == "2026-12-04T00:01:03.000Z")
        #expect(edited.editOf == nil)
        // Not a message of its own: not found by number, not in a page of older history.
        #expect(try await store.message(room: "a", seq: 3) == nil)
        #expect(try await store.messages(room: "a", before: 10, limit: 10).map(\.seq) == [1, 2, 4])
        // In the log, for resumes and the cluster's in-order delivery, and in a window.
        let after = try await store.messages(room: "a", after: 1, limit: 10)
        #expect(after.map(\.seq) == [2, 3, 4])
        #expect(after[1].editOf == MessageRef(seq: 1, id: "id-1"))
        #expect(after[1].text == "fixed")
        #expect(try await store.recent(room: "a", limit: 2).map(\.seq) == [2, 3, 4])  // two messages, and the edit between
        #expect(try await store.lastSequence(room: "a") == 4)
    }

    @Test func earlierVersionsAreKeptInOrderAndGoWithTheMessage() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1), message(2)])
        try await store.append([edit(3, of: 1, text: "second"), edit(4, of: 1, text: "third", by: "mod")])
        #expect(try await store.message(room: "a", seq: 1)?.text == "third")
        let versions = try await store.versions(room: "a", seq: 1)
        #expect(versions.map(\.text) == ["text 1", "second"])
        #expect(versions.map(\.replacedBy) == ["masa", "mod"])
        // An edit's number is not a message's: deleting it by number finds nothing.
        #expect(try await store.delete(room: "a", seq: 3) == nil)
        let removed = try #require(try await store.delete(room: "a", seq: 1))
        #expect(removed.text == "third")
        #expect(try await store.versions(room: "a", seq: 1).isEmpty)
        #expect(try await store.messages(room: "a", after: 0, limit: 10).map(\.seq) == [2])
    }

    /// Found by review: an edit asked for before a delete and stored after it kept its text
    /// and was sent after the deletion. It is stored, and sent, as a deletion of the message.
    @Test func anEditOfAMessageAlreadyGoneIsStoredAsItsDeletionHoldingNothing() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1)])
        let stored = try await store.append([edit(2, of: 9, text: "nothing")])
        #expect(stored[0].deletion && stored[0].text.isEmpty && stored[0].editOf?.seq == 9 && stored[0].id == "edit-2")
        let log = try await store.messages(room: "a", after: 0, limit: 10)
        #expect(log.map(\.seq) == [1, 2])
        #expect(log[1].deletion && log[1].text.isEmpty && log[1].from.isEmpty)
        #expect(try await store.message(room: "a", seq: 1)?.text == "text 1")
        #expect(try await store.versions(room: "a", seq: 9).isEmpty)
    }

    /// Erasing a user erases their edits and every version of their messages.
    @Test func aPurgeTakesTheSendersEditsAndTheEditsOfTheirMessages() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1), message(2, from: "ann")])
        try await store.append([
            edit(3, of: 1, text: "masa's fix"), edit(4, of: 1, text: "mod's fix", by: "mod"), edit(5, of: 2, text: "ann's fix", by: "ann"),
        ])
        let removed = try await store.purge(sender: "masa", sentUpTo: "2026-12-05T00:00:00.000Z", limit: 100)
        #expect(removed.map(\.seq) == [1, 3])
        #expect(removed.filter(\.isMessage).map(\.seq) == [1])
        #expect(try await store.messages(room: "a", after: 0, limit: 10).map(\.seq) == [2, 5])
        #expect(try await store.message(room: "a", seq: 2)?.text == "ann's fix")
    }

    /// `max_messages` counts messages, not their edits.
    @Test func retentionKeepsTheLastMessagesWhateverTheirEdits() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1), message(2), message(3)])
        try await store.append([edit(4, of: 3, text: "a"), edit(5, of: 3, text: "b"), edit(6, of: 3, text: "c")])
        let (count, upTo) = try await store.expire(room: "a", keepLast: 2, sentBefore: nil, batch: 100)
        #expect(count == 1)
        #expect(upTo == 1)
        #expect(try await store.messages(room: "a", before: 100, limit: 10).map(\.seq) == [2, 3])
    }

    @Test func editsSurviveReopening() async throws {
        do {
            let store = try SQLiteStore(path: path)
            try await store.append([message(1), edit(2, of: 1, text: "kept")])
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.message(room: "a", seq: 1)?.text == "kept")
        #expect(try await reopened.messages(room: "a", after: 0, limit: 5).map(\.seq) == [1, 2])
    }

    /// A database the previous release made (migrated through v6, with its rows) gains
    /// edits without losing anything.
    @Test func aDatabaseOfThePreviousReleaseIsMigrated() async throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            let old = try DatabasePool(path: path)
            try SQLiteStore.migrator.migrate(old, upTo: "v6: replies")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO message (room, seq, id, sender, text, sent_at, author, reply_to)
                        VALUES ('a', 1, 'id-1', 'masa', 'text 1', '2026-12-04T00:00:01.000Z', 'user:masa', NULL),
                               ('a', 2, 'id-2', 'ann', 'text 2', '2026-12-04T00:00:02.000Z', 'user:ann', 1);
                        INSERT INTO room_sequence (room, last_seq) VALUES ('a', 2);
                        """)
            }
        }
        let store = try SQLiteStore(path: path)
        let before = try await store.messages(room: "a", after: 0, limit: 10)
        #expect(before.map(\.seq) == [1, 2])
        #expect(before[1].replyTo == 1)
        #expect(before.allSatisfy { $0.editOf == nil && $0.editedAt == nil })
        try await store.append([edit(3, of: 2, text: "text 2, edited", by: "ann")])
        #expect(try await store.message(room: "a", seq: 2)?.text == "text 2, edited")
        #expect(try await store.lastSequence(room: "a") == 3)
    }
}
