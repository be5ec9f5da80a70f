import ChatClient
import ChatConfig
import Foundation
import Testing

@Suite struct RetentionTests {
    func texts(_ s: TestServer, room: String, since: Int? = nil) async throws -> ([String], Bool?) {
        let q = "token=dev-token&name=x&room=\(room)" + (since.map { "&since=\($0)" } ?? "")
        let c = try await WebSocketClient.connect(to: s.url(q), origin: "http://localhost:8080")
        let h = try await c.nextJSON(type: "history")
        await c.close()
        return ((h["messages"] as? [[String: Any]])?.compactMap { $0["text"] as? String } ?? [], h["recovered"] as? Bool)
    }

    @Test func perRoomCountPoliciesAndDefaults() async throws {
        let s = try await TestServer.start {
            $0.retention.defaults.maxMessages = 3
            $0.retention.rooms = ["keep-more": .init(maxMessages: 5)]
            $0.retention.intervalSeconds = 3600  // this test runs the job itself
        }
        for room in ["plain", "keep-more"] {
            let c = try await s.join(room: room)
            for n in 1...8 {
                try await c.sendJSON("\(room) \(n)")
                _ = try await c.nextJSON(type: "message")
            }
            await c.close()
        }
        #expect(await s.server.expireHistory() == 5 + 3)
        #expect(try await texts(s, room: "plain").0 == ["plain 6", "plain 7", "plain 8"])
        #expect(try await texts(s, room: "keep-more").0 == (4...8).map { "keep-more \($0)" })
        // A resume from before what is kept cannot be exact.
        let (window, recovered) = try await texts(s, room: "plain", since: 2)
        #expect(recovered == false && window == ["plain 6", "plain 7", "plain 8"])
        #expect(s.server.metricsText().contains("chatd_messages_expired_total 8"))
        try await s.stop()
    }

    @Test func theJobRunsByItselfWithoutStoppingDelivery() async throws {
        let s = try await TestServer.start {
            $0.retention.defaults.maxMessages = 2
            $0.retention.intervalSeconds = 0.05
            $0.limits.rateMessages = 1000
        }
        let c = try await s.join()
        for n in 1...30 {
            try await c.sendJSON("m\(n)")
            // Every message is still delivered while the job deletes behind it.
            let m = try await c.nextJSON(type: "message")
            #expect((m["message"] as? [String: Any])?["text"] as? String == "m\(n)")
        }
        // Wait for the job's next pass (an event: the history a newcomer gets shrinks to 2).
        let deadline = ContinuousClock.now + .seconds(10)
        var history: [String] = []
        repeat {
            history = try await texts(s, room: "lobby").0
        } while history.count > 2 && ContinuousClock.now < deadline
        #expect(history == ["m29", "m30"])
        await c.close()
        try await s.stop()
    }
}
