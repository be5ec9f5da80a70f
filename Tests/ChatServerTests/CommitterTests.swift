import ChatCore
import ChatStore
import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import ChatServer

/// The store queue with a real SQLite store: batches commit in each room's order, and an
/// async job holds the queue, so what was submitted after it waits for it (what a cluster's
/// in-order delivery and moderation rely on).
@Suite struct CommitterTests {
    static func store() throws -> (SQLiteStore, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("committer-\(UUID().uuidString)")
        return (try SQLiteStore(path: dir.appendingPathComponent("h.sqlite").path), dir)
    }

    static func entry(_ room: Room, _ seq: UInt64, log: NIOLockedValueBox<[String]>? = nil) -> Committer.Entry {
        let message = ChatMessage(
            id: "\(room.name)-\(seq)", seq: seq, room: room.name, from: "a", text: "t", sentAt: "2026-12-03T00:00:00.000Z")
        return Committer.Entry(
            message: message, room: room,
            done: { result in
                if case let .success(stored) = result { log?.withLockedValue { $0.append("done \(stored.id)") } }
            })
    }

    /// Both ways a batch is handed on: at once on the queue (one node), or as an async job.
    @Test(arguments: [false, true]) func batchesCommitInOrderAndJobsSeeWhatCameBefore(later: Bool) async throws {
        let (store, dir) = try Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = NIOLockedValueBox<[String]>([])
        let record: @Sendable ([Committer.Entry]) -> Void = { batch in
            log.withLockedValue { $0 += batch.map { "commit \($0.message.id)" } }
        }
        let committer = Committer(
            store: store, committed: later ? .later { record($0) } : .now(record), failed: { _, _ in })
        let rooms = (0..<3).map { Room(name: "r\($0)", historyWindow: 10, shardCount: 1) }
        for seq in UInt64(1)...100 {
            for room in rooms { committer.submit(Self.entry(room, seq, log: log)) }
            if seq % 25 == 0 {
                let seen = seq
                committer.async {
                    let committed = log.withLockedValue { $0.filter { $0.hasPrefix("commit") }.count }
                    log.withLockedValue { $0.append("job \(seen) saw \(committed)") }
                }
            }
        }
        await committer.run {}
        let entries = log.withLockedValue { $0 }
        for room in rooms {
            let order = entries.filter { $0.hasPrefix("commit \(room.name)-") }
            #expect(order == (1...100).map { "commit \(room.name)-\($0)" })
        }
        // Each job ran after everything submitted before it was committed and announced.
        for seen in [25, 50, 75, 100] {
            let line = entries.first { $0.hasPrefix("job \(seen) saw ") }
            let count = line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
            #expect(count >= seen * 3, "\(line ?? "job \(seen) never ran")")
        }
        #expect(entries.filter { $0.hasPrefix("done") }.count == 300)
        #expect(try await store.lastSequences() == ["r0": 100, "r1": 100, "r2": 100])
    }

    /// A job holds the queue until it is over: a message submitted while it waits is not
    /// committed meanwhile (a commit takes milliseconds; 300 ms without one is the evidence),
    /// and is committed after it.
    @Test func anAsyncJobHoldsTheQueue() async throws {
        let (store, dir) = try Self.store()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = NIOLockedValueBox<[String]>([])
        let committer = Committer(
            store: store, committed: .now { batch in log.withLockedValue { $0 += batch.map { "commit \($0.message.id)" } } },
            failed: { _, _ in })
        let room = Room(name: "r", historyWindow: 10, shardCount: 1)
        let (started, startedSignal) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseSignal) = AsyncStream.makeStream(of: Void.self)
        let (committed, committedSignal) = AsyncStream.makeStream(of: Void.self)
        committer.async {
            startedSignal.yield()
            for await _ in release { break }
            log.withLockedValue { $0.append("job over") }
        }
        for await _ in started { break }
        let message = ChatMessage(id: "r-1", seq: 1, room: "r", from: "a", text: "t", sentAt: "2026-12-03T00:00:00.000Z")
        committer.submit(Committer.Entry(message: message, room: room, done: { _ in committedSignal.yield() }))
        let committedWhileHeld = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in committed { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(300))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(!committedWhileHeld)
        releaseSignal.yield()
        await committer.run {}
        #expect(log.withLockedValue { $0 } == ["job over", "commit r-1"])
        #expect(try await store.lastSequence(room: "r") == 1)
    }
}

@Suite struct FailureLogTests {
    @Test func oneLineASecondWithTheCountSinceTheLast() {
        var log = FailureLog()
        let start = ContinuousClock.now
        #expect(log.take(1, now: start) == 1)
        #expect(log.take(1, now: start + .milliseconds(10)) == nil)
        #expect(log.take(5, now: start + .milliseconds(900)) == nil)
        #expect(log.take(1, now: start + .milliseconds(1000)) == 7)
        #expect(log.take(2, now: start + .milliseconds(2500)) == 2)
    }
}
