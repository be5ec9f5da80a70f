import ChatClient
import Testing

/// Members spread over several event loops all get every message once, in one order.
@Suite struct FanOutTests {
    @Test func everyMemberSeesTheSameOrderAcrossLoops() async throws {
        let s = try await TestServer.start(threads: 4) { $0.limits.rateMessages = 1000 }
        var clients: [WebSocketClient] = []
        for n in 0..<12 { clients.append(try await s.join(name: "m\(n)", room: "big")) }
        let senders = Array(clients.prefix(3))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, sender) in senders.enumerated() {
                group.addTask {
                    for n in 0..<20 { try await sender.sendJSON("s\(i)-\(n)") }
                }
            }
            try await group.waitForAll()
        }
        var orders: [[Int]] = []
        for c in clients {
            var seqs: [Int] = []
            while seqs.count < 60 {
                let m = try await c.nextJSON(type: "message")
                seqs.append((m["message"] as? [String: Any])?["seq"] as? Int ?? -1)
            }
            orders.append(seqs)
        }
        #expect(orders.allSatisfy { $0 == Array(1...60) })
        for c in clients { await c.close() }
        try await s.stop()
    }

    /// A room's messages leave a committed batch together (`BroadcastBatch`): a member that
    /// joins while a flood is being stored and sent gets each message once, either in its
    /// welcome or live, never both and never neither.
    @Test func joinersDuringAFloodGetEachMessageOnce() async throws {
        let total = 300
        let s = try await TestServer.start(threads: 2) {
            $0.limits.rateMessages = 100_000
            $0.limits.userRateMessages = 100_000
            $0.limits.ipRateMessages = 100_000
            $0.history.window = 1000
        }
        let senders = [try await s.join(name: "s0", room: "busy"), try await s.join(name: "s1", room: "busy")]
        let flood = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, sender) in senders.enumerated() {
                    group.addTask { for n in 0..<(total / 2) { try await sender.sendJSON("s\(i)-\(n)") } }
                }
                try await group.waitForAll()
            }
        }
        var joiners: [(client: WebSocketClient, seen: [Int])] = []
        for n in 0..<8 {
            let client = try await s.connect(name: "j\(n)", room: "busy")
            let history = try await client.nextJSON(type: "history")
            let seen = (history["messages"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } ?? []
            joiners.append((client, seen))
        }
        try await flood.value
        for (client, seen) in joiners {
            var seqs = seen
            while seqs.last ?? 0 < total {
                let m = try await client.nextJSON(type: "message")
                seqs.append((m["message"] as? [String: Any])?["seq"] as? Int ?? -1)
            }
            #expect(seqs == Array(1...total))
            await client.close()
        }
        // Some joiner came in while messages were still arriving, or the test shows nothing.
        #expect(joiners.contains { $0.seen.count < total })
        for c in senders { await c.close() }
        try await s.stop()
    }

    @Test func shutdownClosesClientsWith1001() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await s.stop()
        #expect(try await c.nextClose() == 1001)
    }
}
