import ChatCore
import ChatStore
import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import Testing

@testable import ChatServer

/// The hub's side of message nonces with a real SQLite store: resends racing the first,
/// and one after it, store one message, and numbering has no gap for them.
@Suite struct NonceHubTests {
    @Test func racingResendsStoreOneMessageAndTakeNoNumber() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nonce-hub-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try SQLiteStore(path: dir.appendingPathComponent("h.sqlite").path)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hub = try Hub(loops: [group.next()], metrics: ChatMetrics(), store: store)

        func publish(_ id: String, nonce: String?, author: String = "user:ann") async -> Result<ChatMessage, any Error> {
            await withCheckedContinuation { continuation in
                hub.publish(room: "lobby", from: "ann", text: "hi", author: author, id: id, nonce: nonce, historyWindow: 50) {
                    continuation.resume(returning: $0)
                }
            }
        }

        let results = await withTaskGroup(of: (String, Result<ChatMessage, any Error>).self) { group in
            for i in 0..<20 { group.addTask { ("id-\(i)", await publish("id-\(i)", nonce: "n")) } }
            return await group.reduce(into: [:]) { $0[$1.0] = try? $1.1.get() }
        }
        #expect(results.count == 20)
        let originals = Set(results.values.map(\.id))
        #expect(originals.count == 1)
        #expect(results.values.allSatisfy { $0.seq == 1 })
        // After its commit, too.
        #expect(try await publish("late", nonce: "n").get().id == originals.first)
        // Another author's nonce, and no nonce, are messages of their own, numbered on.
        #expect(try await publish("bob", nonce: "n", author: "user:bob").get().seq == 2)
        #expect(try await publish("plain", nonce: nil).get().seq == 3)
        await hub.flush()
        #expect(try await store.recent(room: "lobby", limit: 10).map(\.seq) == [1, 2, 3])
        try await group.shutdownGracefully()
    }

    /// Without a store the room's window is all there is: a resend within it is a duplicate.
    @Test func withoutAStoreTheWindowRemembers() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hub = try Hub(loops: [group.next()], metrics: ChatMetrics())
        func publish(_ id: String, nonce: String) async -> ChatMessage? {
            await withCheckedContinuation { continuation in
                hub.publish(room: "lobby", from: "ann", text: "hi", author: "user:ann", id: id, nonce: nonce, historyWindow: 50) {
                    continuation.resume(returning: try? $0.get())
                }
            }
        }
        #expect(await publish("first", nonce: "n")?.id == "first")
        #expect(await publish("again", nonce: "n")?.id == "first")
        #expect(await publish("other", nonce: "m")?.seq == 2)
        try await group.shutdownGracefully()
    }
}
