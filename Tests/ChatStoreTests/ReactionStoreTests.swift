import ChatCore
import Foundation
import Testing

@testable import ChatStore

/// Issue 17, item 2: a reaction change is a numbered row of the log; each reader counts once.
@Suite struct ReactionStoreTests {
    let path = NSTemporaryDirectory() + "chatd-reaction-\(UUID().uuidString)/history.sqlite"

    func message(_ seq: UInt64) -> ChatMessage {
        ChatMessage(id: "id-\(seq)", seq: seq, room: "a", from: "masa", text: "text \(seq)", sentAt: "2026-12-04T00:00:00.000Z")
    }

    func react(_ seq: UInt64, on target: UInt64, _ emoji: String, by reader: String, added: Bool = true) -> ChatMessage {
        ChatMessage(
            id: "r-\(seq)", seq: seq, room: "a", from: reader, text: emoji, sentAt: "2026-12-04T00:01:00.000Z", author: "user:\(reader)",
            editOf: MessageRef(seq: target, id: "id-\(target)"), reaction: ReactionChange(emoji: emoji, added: added))
    }

    @Test func eachReaderCountsOnceAndCountsKeepTheOrderOfFirstUse() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1)])
        let stored = try await store.append([
            react(2, on: 1, "🎉", by: "ann"), react(3, on: 1, "👍", by: "bob"), react(4, on: 1, "👍", by: "ann"),
            react(5, on: 1, "👍", by: "ann"),
        ])
        let expected = [ReactionCount(emoji: "🎉", count: 1), ReactionCount(emoji: "👍", count: 2)]
        #expect(stored.map(\.reactions.count) == [1, 2, 2, 2])
        #expect(stored.last?.reactions == expected)
        #expect(try await store.message(room: "a", seq: 1)?.reactions == expected)
        let removed = try await store.append([react(6, on: 1, "🎉", by: "ann", added: false), react(7, on: 1, "🎉", by: "zed", added: false)])
        #expect(removed.last?.reactions == [ReactionCount(emoji: "👍", count: 2)])
        // The changes are in the log, with the counts each left, for resumes and other nodes.
        let log = try await store.messages(room: "a", after: 1, limit: 10)
        #expect(log.map(\.seq) == [2, 3, 4, 5, 6, 7])
        #expect(log[0].reaction == ReactionChange(emoji: "🎉", added: true))
        #expect(log[5].reactions == [ReactionCount(emoji: "👍", count: 2)])
        // Not messages: not found by number, not in pages of older history, not versions.
        #expect(try await store.message(room: "a", seq: 2) == nil)
        #expect(try await store.messages(room: "a", before: 100, limit: 10).map(\.seq) == [1])
        #expect(try await store.versions(room: "a", seq: 1).isEmpty)
        #expect(try await store.ownReactions(room: "a", reactor: "user:ann", seqs: [1]) == [1: ["👍"]])
        #expect(try await store.ownReactions(room: "a", reactor: "user:zed", seqs: [1]).isEmpty)
    }

    @Test func reactionsGoWithTheirMessage() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1), message(2)])
        try await store.append([react(3, on: 1, "👍", by: "ann"), react(4, on: 2, "👍", by: "ann")])
        _ = try await store.delete(room: "a", seq: 1)
        #expect(try await store.ownReactions(room: "a", reactor: "user:ann", seqs: [1, 2]) == [2: ["👍"]])
        #expect(try await store.messages(room: "a", after: 0, limit: 10).map(\.seq) == [2, 4])
        _ = try await store.expire(room: "a", keepLast: 0, sentBefore: nil, batch: 100)
        #expect(try await store.ownReactions(room: "a", reactor: "user:ann", seqs: [1, 2]).isEmpty)
    }

    @Test func aReactionToAMessageAlreadyGoneKeepsItsPlaceAndCountsNothing() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1)])
        let stored = try await store.append([react(2, on: 9, "👍", by: "ann")])
        #expect(stored[0].reactions.isEmpty && stored[0].deletion && stored[0].reaction == nil)
        #expect(try await store.messages(room: "a", after: 0, limit: 10).map(\.seq) == [1, 2])
        #expect(try await store.ownReactions(room: "a", reactor: "user:ann", seqs: [9]).isEmpty)
    }
}

extension ReactionStoreTests {
    /// Found by review: 200 reaction changes left a window (read at a room's load) of
    /// changes only, and a welcome with no message. The window read has the newest messages
    /// whatever came after them.
    @Test func aFloodOfReactionsLeavesTheWindowItsMessages() async throws {
        let store = try SQLiteStore(path: path)
        try await store.append([message(1), message(2), message(3)])
        try await store.append((4...303).map { react(UInt64($0), on: 1, "👍", by: "r\($0 % 7)", added: $0 % 2 == 0) })
        let window = try await store.recent(room: "a", limit: 50)
        #expect(window.filter(\.isMessage).map(\.seq) == [1, 2, 3])
        #expect(window.count == 3 + HistoryWindow.entryLimit(messages: 50))
        #expect(window.map(\.seq) == window.map(\.seq).sorted())
        #expect(window.last?.seq == 303)
    }
}
