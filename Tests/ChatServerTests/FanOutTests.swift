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

    @Test func shutdownClosesClientsWith1001() async throws {
        let s = try await TestServer.start()
        let c = try await s.join()
        try await s.stop()
        #expect(try await c.nextClose() == 1001)
    }
}
