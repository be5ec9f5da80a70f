import ChatClient
import Testing

@Suite struct HeartbeatTests {
    @Test func silentClientsAreTerminatedAndAnsweringOnesStay() async throws {
        // 1 s, not less: the answering client must get its pong in within an interval even
        // while every suite runs at once on two cores (at 0.2 s a stall cut it off).
        let s = try await TestServer.start { $0.heartbeat.pingIntervalSeconds = 1 }
        let alive = try await s.join(name: "alive", autoPong: true)
        // Not `join`: it reads past the welcome, and the first ping may come before it (a
        // room's first join waits for the store) and would be passed over.
        let silent = try await s.connect(name: "silent", autoPong: false)
        // The silent one is pinged, does not answer, and is cut at the next tick.
        // Generous timeouts: the whole test process (every suite at once on two cores) can
        // stall for a while; what is asserted is the order of events, not their speed.
        let pinged: Bool = try await silent.next(timeout: .seconds(15)) { event in if case .ping = event { return true } else { return nil }
        }
        #expect(pinged)
        let ended: Bool = try await silent.next(timeout: .seconds(15)) { $0 == .disconnected ? true : nil }
        #expect(ended)
        // The other answered every ping: after several intervals it still talks.
        for _ in 0..<3 {
            let p: Bool = try await alive.next(timeout: .seconds(15)) { event in if case .ping = event { return true } else { return nil } }
            #expect(p)
        }
        try await alive.sendJSON("still alive")
        let m = try await alive.nextJSON(type: "message")
        #expect((m["message"] as? [String: Any])?["text"] as? String == "still alive")
        await alive.close()
        try await s.stop()
    }

    /// Issue 13: pongs the client makes up (unsolicited, or echoing nothing) do not answer
    /// the heartbeat; only the latest ping's payload does.
    @Test func madeUpPongsDoNotKeepAConnectionAlive() async throws {
        let s = try await TestServer.start { $0.heartbeat.pingIntervalSeconds = 0.2 }
        let faker = try await s.connect(name: "faker", autoPong: false)
        let payload: [UInt8] = try await faker.next { event in if case let .ping(p) = event { return p } else { return nil } }
        #expect(payload.count == 8)
        let pongs = Task {
            while !Task.isCancelled {
                try? await faker.send(opcode: .pong, [])
                try? await faker.send(opcode: .pong, [0, 0, 0, 0, 0, 0, 0, 0])
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        let ended: Bool = try await faker.next(timeout: .seconds(3)) { $0 == .disconnected ? true : nil }
        pongs.cancel()
        #expect(ended)
        try await s.stop()
    }
}
