import ChatClient
import ChatConfig
import Foundation
import Testing

/// Durable history (SQLite), resume with `since`, and older pages with `history`.
@Suite struct HistoryTests {
    func seqs(_ history: [String: Any]) -> [Int] {
        (history["messages"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } ?? []
    }

    func connect(_ s: TestServer, name: String, since: Int? = nil) async throws -> (WebSocketClient, [String: Any]) {
        let query = "token=dev-token&name=\(name)" + (since.map { "&since=\($0)" } ?? "")
        let c = try await WebSocketClient.connect(to: s.url(query), origin: "http://localhost:8080")
        let history = try await c.nextJSON(type: "history")
        return (c, history)
    }

    @Test func historySurvivesARestartAndSequencesContinue() async throws {
        let first = try await TestServer.start()
        let a = try await first.join()
        for n in 1...3 {
            try await a.sendJSON("before restart \(n)")
            _ = try await a.nextJSON(type: "message")
        }
        await a.close()
        try await first.stop()

        let second = try await TestServer.start { $0.history.path = first.config.history.path }
        let (b, history) = try await connect(second, name: "b")
        #expect(seqs(history) == [1, 2, 3])
        #expect(history["recovered"] == nil)  // a plain connect: the article's history event
        try await b.sendJSON("after restart")
        let m = try await b.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["seq"] as? Int == 4)
        await b.close()
        try await second.stop()
    }

    /// Joiners without `since` share one encoded welcome per window state (`WelcomeCache`,
    /// kept from a generation's second joiner on): a message or a delete reaches the next
    /// joiners, however many joined before it.
    @Test func everyJoinerSeesTheWindowAsItIsNow() async throws {
        let s = try await TestServer.start()
        let a = try await s.join(name: "a")
        var clients = [a]
        var expected: [Int] = []
        for step in 0..<3 {
            switch step {
            case 0:
                try await a.sendJSON("one")
                _ = try await a.nextJSON(type: "message")
                expected = [1]
            case 1:
                try await a.sendJSON("two")
                _ = try await a.nextJSON(type: "message")
                expected = [1, 2]
            default:
                try await a.send(text: #"{"type":"delete","seq":2}"#)
                _ = try await a.nextJSON(type: "deleted")
                expected = [1]
            }
            for n in 0..<3 {
                let (c, history) = try await connect(s, name: "j\(step)\(n)")
                clients.append(c)
                #expect(seqs(history) == expected, "step \(step), joiner \(n)")
            }
        }
        for c in clients { await c.close() }
        try await s.stop()
    }

    @Test func resumeSendsExactlyWhatWasMissed() async throws {
        let s = try await TestServer.start()
        let a = try await s.join(name: "a")
        try await a.sendJSON("seen")
        _ = try await a.nextJSON(type: "message")
        for n in 1...5 {
            try await a.sendJSON("missed \(n)")
            _ = try await a.nextJSON(type: "message")
        }
        let (b, history) = try await connect(s, name: "b", since: 1)
        #expect(seqs(history) == [2, 3, 4, 5, 6])
        #expect(history["recovered"] as? Bool == true)
        // Nothing missed: an empty, recovered history.
        let (c, upToDate) = try await connect(s, name: "c", since: 6)
        #expect(seqs(upToDate) == [] && upToDate["recovered"] as? Bool == true)
        for x in [a, b, c] { await x.close() }
        try await s.stop()
    }

    @Test func resumeReachesPastTheWindowIntoTheStore() async throws {
        let s = try await TestServer.start { $0.history.window = 2 }
        let a = try await s.join()
        for n in 1...7 {
            try await a.sendJSON("m\(n)")
            _ = try await a.nextJSON(type: "message")
        }
        let (b, history) = try await connect(s, name: "b", since: 1)
        #expect(seqs(history) == [2, 3, 4, 5, 6, 7])
        #expect(history["recovered"] as? Bool == true)
        for x in [a, b] { await x.close() }
        try await s.stop()
    }

    @Test func unrecoverableGapsSayNotRecoveredAndSendTheWindow() async throws {
        let s = try await TestServer.start {
            $0.history.window = 3
            $0.history.resumeLimit = 4
        }
        let a = try await s.join()
        for n in 1...8 {
            try await a.sendJSON("m\(n)")
            _ = try await a.nextJSON(type: "message")
        }
        // Too far behind (7 missed > resume_limit 4).
        let (b, far) = try await connect(s, name: "b", since: 1)
        #expect(far["recovered"] as? Bool == false && seqs(far) == [6, 7, 8])
        // A sequence the room never reached (the client saw another server's history).
        let (c, future) = try await connect(s, name: "c", since: 99)
        #expect(future["recovered"] as? Bool == false && seqs(future) == [6, 7, 8])
        for x in [a, b, c] { await x.close() }
        try await s.stop()
    }

    @Test func olderPagesOnRequest() async throws {
        let s = try await TestServer.start { $0.history.window = 2 }
        let a = try await s.join()
        for n in 1...6 {
            try await a.sendJSON("m\(n)")
            _ = try await a.nextJSON(type: "message")
        }
        try await a.send(text: #"{"type":"history","before":5,"limit":2}"#)
        let page = try await a.nextJSON(type: "history")
        #expect(seqs(page) == [3, 4] && page["before"] as? Int == 5)
        try await a.send(text: #"{"type":"history","since":4}"#)
        let caughtUp = try await a.nextJSON(type: "history")
        #expect(seqs(caughtUp) == [5, 6] && caughtUp["recovered"] as? Bool == true)
        try await a.send(text: #"{"type":"history","before":"x"}"#)
        #expect(try await a.nextJSON(type: "error")["code"] as? String == "bad_field")
        await a.close()
        try await s.stop()
    }

    /// Three senders; a reader that keeps dropping its connection at random points and
    /// resuming from the last sequence it saw. Together its pieces must be 1...N exactly.
    @Test func resumeUnderConcurrentSendersWithRandomDisconnects() async throws {
        let s = try await TestServer.start(threads: 2) {
            $0.limits.rateMessages = 10_000
            $0.history.window = 5
        }
        let senders = [try await s.join(name: "s0"), try await s.join(name: "s1"), try await s.join(name: "s2")]
        let perSender = 40
        let total = senders.count * perSender
        let sending = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, sender) in senders.enumerated() {
                    group.addTask { for n in 0..<perSender { try await sender.sendJSON("s\(i)-\(n)") } }
                }
                try await group.waitForAll()
            }
        }
        var received: [Int] = []
        var last = 0
        while received.count < total {
            let (reader, history) = try await connect(s, name: "reader", since: last)
            #expect(history["recovered"] as? Bool == true)
            received += seqs(history)
            // Read a random number of live messages, then drop the connection abruptly.
            let take = Int.random(in: 1...25)
            var got = 0
            while got < take, received.count < total {
                let m = try await reader.nextJSON(type: "message")
                received.append((m["message"] as? [String: Any])?["seq"] as? Int ?? -1)
                got += 1
            }
            last = received.last ?? last
            try await reader.channel.close()
        }
        try await sending.value
        #expect(received == Array(1...total))
        for x in senders { await x.close() }
        try await s.stop()
    }
}
