import ChatCore
import Foundation
import Testing

@testable import ChatConfig

@Suite struct AuthConfigTests {
    let hash = String(repeating: "ab", count: 32)

    func parse(_ text: String, file: String = "/etc/chatd/chatd.toml") throws(ConfigError) -> Config {
        try parseConfig(text, file: file)
    }

    func error(_ text: String) -> ConfigError? { configError(text) }

    @Test func credentialsAndRules() throws {
        let c = try parse(
            """
            [auth]
            tokens = []
            [auth.credentials.alice]
            token_sha256 = "\(hash)"
            role = "moderator"
            rooms = ["lobby", "team-*"]
            guest_names = true
            [rooms.rules."dash-*"]
            join = "moderators"
            send = "server"
            max_members = 10
            [limits]
            max_rooms_per_connection = 4
            """)
        let alice = try #require(c.auth.credentials["alice"])
        #expect(alice.tokenSHA256 == hash && alice.role == .moderator && alice.rooms == ["lobby", "team-*"] && alice.guestNames)
        #expect(c.rooms.rules["dash-*"] == RoomRule(join: .moderators, send: .server, maxMembers: 10))
        #expect(c.limits.maxRoomsPerConnection == 4)
    }

    @Test(arguments: [
        ("[auth.credentials.alice]\ntoken_sha256 = \"abc\"\n", "auth.credentials.alice.token_sha256", 2),
        (
            "[auth.credentials.alice]\ntoken_sha256 = \"\(String(repeating: "ab", count: 32))\"\nrooms = [\"a b\"]\n",
            "auth.credentials.alice.rooms", 3
        ),
        ("[auth.credentials.alice]\nrole = \"root\"\n", "auth.credentials.alice.role", 2),
        ("[auth.credentials.\"a<b\"]\nrole = \"user\"\n", "auth.credentials.a<b", 1),
        ("[rooms.rules.\"x y\"]\nsend = \"members\"\n", "rooms.rules.x y", 1),
        ("[rooms.rules.lobby]\nsend = \"everyone\"\n", "rooms.rules.lobby.send", 2),
        ("[auth.jwt]\nalgorithm = \"none\"\nkey_file = \"k\"\n", "auth.jwt.algorithm", 2),
        ("[auth.jwt]\nalgorithm = \"HS256\"\n", "auth.jwt.key_file", 1),
    ])
    func invalid(text: String, key: String, line: Int) {
        expectConfigError(text, .invalidValue, key: key, line: line)
    }

    @Test func unknownKeysInNestedTablesAreNamed() {
        let e = error("[rooms.rules.lobby]\njoin = \"everyone\"\nsned = \"server\"\n")
        #expect(e?.kind == .unknownKey && e?.key == "rooms.rules.lobby.sned" && e?.line == 3)
        let j = error("[auth.jwt]\nalgorithm = \"HS256\"\nkey_file = \"k\"\naudiance = \"x\"\n")
        #expect(j?.kind == .unknownKey && j?.key == "auth.jwt.audiance" && j?.line == 4)
    }

    @Test func jwtKeyFilesAreReadRelativeToTheConfig() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chatd-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("chatd.toml").path
        try "0123456789abcdef0123456789abcdef\n".write(to: dir.appendingPathComponent("secret"), atomically: true, encoding: .utf8)
        try "short\n".write(to: dir.appendingPathComponent("short"), atomically: true, encoding: .utf8)
        let c = try parse("[auth.jwt]\nalgorithm = \"HS256\"\nkey_file = \"secret\"\nissuer = \"idp\"\n", file: file)
        #expect(c.auth.jwt?.key == Array("0123456789abcdef0123456789abcdef".utf8))
        #expect(c.auth.jwt?.issuer == "idp")
        #expect(throws: ConfigError.self) { try parse("[auth.jwt]\nalgorithm = \"HS256\"\nkey_file = \"short\"\n", file: file) }
        // A binary secret (not UTF-8) is used byte for byte: no replacement characters, no trimmed newline byte.
        let binary: [UInt8] = [0xFF, 0x0A] + (0..<32).map { UInt8($0 * 7 % 256) } + [0x80, 0x20, 0x0A]
        try Data(binary).write(to: dir.appendingPathComponent("binary"))
        let b = try parse("[auth.jwt]\nalgorithm = \"HS256\"\nkey_file = \"binary\"\n", file: file)
        #expect(b.auth.jwt?.key == binary)
        do {
            _ = try parse("[auth.jwt]\nalgorithm = \"EdDSA\"\nkey_file = \"missing.pem\"\n", file: file)
            Issue.record("accepted a missing key file")
        } catch {
            #expect(error.kind == .unreadable && error.key == "auth.jwt.key_file" && error.line == 3)
        }
    }

    @Test func apiKeysSlowConsumersAndThreads() throws {
        let c = try parse(
            """
            [server]
            threads = 2
            [api]
            max_body_bytes = 4096
            [api.keys.feeder]
            key_sha256 = "\(hash)"
            rooms = ["dash-*"]
            [rooms.rules."dash-*"]
            slow_consumer = "drop_oldest"
            [limits]
            send_buffer_bytes = 8192
            send_queue_frames = 10
            """)
        #expect(c.server.threads == 2 && c.api.maxBodyBytes == 4096 && c.api.keys["feeder"]?.rooms == ["dash-*"])
        #expect(c.rooms.rules["dash-*"]?.slowConsumer == .dropOldest)
        #expect(c.limits.sendBufferBytes == 8192 && c.limits.sendQueueFrames == 10)
        #expect(error("[api.keys.feeder]\nkey_sha256 = \"nope\"\n")?.key == "api.keys.feeder.key_sha256")
        #expect(error("[rooms.rules.x]\nslow_consumer = \"block\"\n")?.key == "rooms.rules.x.slow_consumer")
        #expect(error("[limits]\nsend_buffer_bytes = 10\n")?.key == "limits.send_buffer_bytes")
        #expect(error("[server]\nthreads = -1\n")?.key == "server.threads")
    }

    @Test func noCredentialAtAllIsAnError() {
        #expect(error("[auth]\ntokens = []\n")?.key == "auth.tokens")
        #expect(error("[auth]\ntokens = []\n[auth.credentials.alice]\ntoken_sha256 = \"\(hash)\"\n") == nil)
    }
}
