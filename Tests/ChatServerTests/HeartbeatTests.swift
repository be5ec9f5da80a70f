import ChatClient
import Testing

@Suite struct HeartbeatTests {
    @Test func silentClientsAreTerminatedAndAnsweringOnesStay() async throws {
        let s = try await TestServer.start { $0.heartbeat.pingIntervalSeconds = 0.2 }
        let alive = try await s.join(name: "alive", autoPong: true)
        let silent = try await s.join(name: "silent", autoPong: false)
        // The silent one is pinged, does not answer, and is cut at the next tick.
        let pinged: Bool = try await silent.next { event in if case .ping = event { return true } else { return nil } }
        #expect(pinged)
        let ended: Bool = try await silent.next(timeout: .seconds(3)) { $0 == .disconnected ? true : nil }
        #expect(ended)
        // The other answered every ping: after several intervals it still talks.
        for _ in 0..<3 {
            let p: Bool = try await alive.next { event in if case .ping = event { return true } else { return nil } }
            #expect(p)
        }
        try await alive.sendJSON("still alive")
        let m = try await alive.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["text"] as? String == "still alive")
        await alive.close()
        try await s.stop()
    }
}
