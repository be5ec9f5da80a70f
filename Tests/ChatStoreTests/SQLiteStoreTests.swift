import ChatCore
import Foundation
import Testing
@testable import ChatStore

@Suite struct SQLiteStoreTests {
    let path = NSTemporaryDirectory() + "chatd-store-\(UUID().uuidString)/history.sqlite"

    func message(_ room: String, _ seq: UInt64, from: String = "masa") -> ChatMessage {
        ChatMessage(id: "id-\(room)-\(seq)", seq: seq, room: room, from: from, text: "text \(seq)", sentAt: "2026-11-26T00:00:00.000Z")
    }

    @Test func appendsAndReadsBackInOrder() throws {
        let store = try SQLiteStore(path: path)
        try store.append((1...10).map { message("a", $0) } + [message("b", 1)])
        #expect(try store.recent(room: "a", limit: 3).map(\.seq) == [8, 9, 10])
        #expect(try store.messages(room: "a", after: 7, limit: 100).map(\.seq) == [8, 9, 10])
        #expect(try store.messages(room: "a", after: 2, limit: 2).map(\.seq) == [3, 4])
        #expect(try store.messages(room: "a", before: 4, limit: 2).map(\.seq) == [2, 3])
        #expect(try store.oldestSequence(room: "a") == 1)
        #expect(try store.oldestSequence(room: "none") == nil)
        #expect(try store.lastSequences() == ["a": 10, "b": 1])
        #expect(try store.recent(room: "b", limit: 5) == [message("b", 1)])
    }

    @Test func survivesReopening() throws {
        do {
            let store = try SQLiteStore(path: path)
            try store.append([message("a", 1), message("a", 2)])
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try reopened.recent(room: "a", limit: 10).map(\.text) == ["text 1", "text 2"])
        #expect(try reopened.lastSequences()["a"] == 2)
    }

    @Test func aBatchIsAllOrNothing() throws {
        let store = try SQLiteStore(path: path)
        try store.append([message("a", 1)])
        // seq 1 again violates the primary key: the whole batch is refused.
        #expect(throws: (any Error).self) { try store.append([message("a", 2), message("a", 1)]) }
        #expect(try store.recent(room: "a", limit: 10).map(\.seq) == [1])
    }

    @Test func fullSynchronousIsAccepted() throws {
        let store = try SQLiteStore(path: path, synchronous: .full)
        try store.append([message("a", 1)])
        #expect(try store.lastSequences()["a"] == 1)
    }
}
