import Foundation
import Testing

@testable import ChatConfig

@Suite struct ConfigLoaderTests {
    func parse(_ text: String) throws(ConfigError) -> Config { try parseConfig(text) }
    func error(_ text: String) -> ConfigError? { configError(text) }

    @Test func builtInDefaultsAreTheArticles() throws {
        let c = try ConfigLoader.load(path: nil)
        #expect(c.server.listen == [ListenAddress(host: "127.0.0.1", port: 8080)])
        #expect(c.auth.tokens == ["dev-token"])
        #expect(c.effectiveOrigins == ["http://localhost:8080", "http://127.0.0.1:8080"])
        #expect(c.history.window == 50)
        #expect(c.limits.rateMessages == 20 && c.limits.rateWindowSeconds == 10)
        #expect(c.limits.maxMessageChars == 500)
        #expect(c.heartbeat.pingIntervalSeconds == 30)
    }

    @Test func exampleConfigIsValidAndEqualsTheDefaults() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../etc/chatd.toml").standardized.path
        let c = try ConfigLoader.load(path: path)
        // allowed_origins is shown commented out, so that the origins follow PORT.
        #expect(c == Config())
    }

    @Test func exampleConfigDocumentsEveryKey() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../etc/chatd.toml").standardized.path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for key in ConfigSchema.keys {
            let name = String(key.split(separator: ".").last!)
            let section = String(key.split(separator: ".").first!)
            #expect(text.contains("[\(section)]"), "missing section for \(key)")
            #expect(
                text.contains("\(name) =") || text.contains("[\(section).\(name).") || text.contains("[\(section).\(name)]"),
                "etc/chatd.toml does not document \(key)")
        }
    }

    @Test func readsEveryKey() throws {
        let c = try parse(
            """
            [server]
            listen = ["0.0.0.0:9000", "[::1]:9001"]
            web_root = "/srv/www"
            echo_endpoint = true
            [auth]
            tokens = ["a", "b"]
            allowed_origins = ["https://chat.example.com"]
            [limits]
            max_message_chars = 100
            max_frame_bytes = 1024
            rate_messages = 5
            rate_window_seconds = 2.5
            [heartbeat]
            ping_interval_seconds = 0.5
            [history]
            window = 0
            [rooms]
            default = "general"
            [log]
            level = "debug"
            """)
        #expect(c.server.listen == [ListenAddress(host: "0.0.0.0", port: 9000), ListenAddress(host: "::1", port: 9001)])
        #expect(c.server.webRoot == "/srv/www" && c.server.echoEndpoint)
        #expect(c.auth.tokens == ["a", "b"] && c.effectiveOrigins == ["https://chat.example.com"])
        #expect(c.limits.maxMessageChars == 100 && c.limits.maxFrameBytes == 1024)
        #expect(c.limits.rateMessages == 5 && c.limits.rateWindowSeconds == 2.5)
        #expect(c.heartbeat.pingIntervalSeconds == 0.5 && c.history.window == 0)
        #expect(c.rooms.defaultRoom == "general" && c.log.level == "debug")
    }

    @Test func backendURLsTheHTTPClientCannotPostToAreRefused() {
        // Found by review: a port past 65535 passed and the HTTP client trapped on it.
        for url in [
            "http://127.0.0.1:99999/x", "http://127.0.0.1:0/x", "http://h/x#frag", "ftp://h/x", "http://user:pw@h/x", "http:///x",
            "http://h /x",
        ] {
            do {
                _ = try parse("[proxy]\nconnect_url = \"\(url)\"\n")
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.key == "proxy.connect_url" && error.line == 2, "\(url): \(error)")
            }
        }
        for url in ["http://127.0.0.1:3000/chatd/connect", "https://backend.example/c?x=1", "HTTP://h:65535/"] {
            #expect((try? parse("[proxy]\nconnect_url = \"\(url)\"\n")) != nil, "\(url)")
        }
    }

    @Test func syntaxErrorNamesFileAndLine() {
        let e = error("[server]\nlisten = \"127.0.0.1:8080\"\n\n[limits\nrate_messages = 3\n")
        #expect(e?.kind == .syntax)
        #expect(e?.line == 4)
        #expect(e?.description.hasPrefix("/etc/chatd/chatd.toml:4: TOML syntax error") == true)
    }

    /// Found by Fuzz/FuzzConfig: toml++ asserts (aborts) on these instead of failing.
    @Test(arguments: [
        "[!]\n", "[server]\n[ \u{eb}]\n", "[.a]\n", "[[!]]\n", "\n\n[\t\u{FFFD}server]\n",
        "[auth]\ntokens = [}\n", "[auth]\ntokens = [\"a\",\n  }]\n", "\u{FEFF}[!]\n",
    ])
    func malformedTableHeadersAreSyntaxErrors(text: String) {
        let e = error(text)
        #expect(e?.kind == .syntax)
        #expect(
            e?.line
                == text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex {
                    ($0.contains("[") || $0.contains("}")) && !$0.hasPrefix("[server]") && !$0.hasPrefix("[auth]") && !$0.hasSuffix(",")
                }.map { $0 + 1 })
    }

    @Test func headerCheckLeavesStringsAndArraysAlone() throws {
        let c = try parse(
            #"""
            [server]
            trusted_proxies = [
              "10.0.0.0/8",
            ]
            web_root = """
            [! not a header]"""
            [auth] # [!] in a comment
            tokens = ['[!]']
            allowed_origins = [ # a comment }
              "http://a.example",
            ]
            [rooms.rules."x-*"]
            join = "everyone"
            """#)
        #expect(c.auth.tokens == ["[!]"])
        #expect(c.server.webRoot == "[! not a header]")
    }

    @Test func unknownKeyNamesLineAndKey() {
        let e = error("[limits]\nrate_messages = 3\nrate_mesages = 4\n")
        #expect(e?.kind == .unknownKey)
        #expect(e?.key == "limits.rate_mesages")
        #expect(e?.line == 3)
        #expect(e?.description.contains("known keys in [limits]") == true)
    }

    @Test func unknownSection() {
        let e = error("[server]\n[sever]\nlisten = \"x:1\"\n")
        #expect(e?.kind == .unknownKey && e?.key == "sever" && e?.line == 2)
    }

    @Test(arguments: [
        ("[limits]\nrate_messages = \"20\"\n", "limits.rate_messages", 2),
        ("[history]\n\nwindow = 1.5\n", "history.window", 3),
        ("[auth]\ntokens = \"dev-token\"\n", "auth.tokens", 2),
        ("[auth]\ntokens = [\"a\", 1]\n", "auth.tokens", 2),
        ("[server]\necho_endpoint = \"yes\"\n", "server.echo_endpoint", 2),
        ("server = 5\n", "server", 1),
    ])
    func wrongTypes(text: String, key: String, line: Int) {
        expectConfigError(text, .wrongType, key: key, line: line)
    }

    @Test(arguments: [
        ("[limits]\nrate_messages = -5\n", "limits.rate_messages", 2),
        ("[limits]\nmax_message_chars = 0\n", "limits.max_message_chars", 2),
        ("[limits]\nrate_window_seconds = 0\n", "limits.rate_window_seconds", 2),
        ("[limits]\nmax_frame_bytes = 999999999\n", "limits.max_frame_bytes", 2),
        ("[heartbeat]\nping_interval_seconds = -1\n", "heartbeat.ping_interval_seconds", 2),
        ("[history]\nwindow = -1\n", "history.window", 2),
    ])
    func outOfRange(text: String, key: String, line: Int) {
        expectConfigError(text, .outOfRange, key: key, line: line)
    }

    @Test(arguments: [
        ("[server]\nlisten = \"127.0.0.1:70000\"\n", "server.listen"),
        ("[server]\nlisten = \"no-port\"\n", "server.listen"),
        ("[auth]\nallowed_origins = [\"localhost:8080\"]\n", "auth.allowed_origins"),
        ("[auth]\nallowed_origins = [\"http://localhost:8080/\"]\n", "auth.allowed_origins"),
        ("[auth]\nallowed_origins = [\"http://a.example/path\"]\n", "auth.allowed_origins"),
        ("[auth]\ntokens = []\n", "auth.tokens"),
        ("[auth]\ntokens = [\"\"]\n", "auth.tokens"),
        ("[rooms]\ndefault = \"a room\"\n", "rooms.default"),
        ("[log]\nlevel = \"loud\"\n", "log.level"),
        ("[server]\ntrusted_proxies = [\"1:2:3:4:5:6:7:8:9\"]\n", "server.trusted_proxies"),
        ("[server]\ntrusted_proxies = [\"10.0.0.0/40\"]\n", "server.trusted_proxies"),
    ])
    func invalidValues(text: String, key: String) {
        expectConfigError(text, .invalidValue, key: key, line: 2)
    }

    @Test func missingFileIsReported() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/chatd.toml") }
        do {
            _ = try ConfigLoader.load(path: "/nonexistent/chatd.toml")
        } catch {
            #expect(error.kind == .unreadable)
            #expect(error.description.hasPrefix("/nonexistent/chatd.toml: cannot read the file"))
        }
    }

    @Test func environmentOverridesTheFile() throws {
        let base = try parse("[server]\nlisten = \"0.0.0.0:9000\"\n[auth]\ntokens = [\"file\"]\n")
        let c = try ConfigLoader.applyEnvironment(
            ["PORT": "8181", "CHAT_TOKEN": "env-token", "ALLOWED_ORIGINS": "http://a.example, https://b.example:8443"], to: base)
        #expect(c.server.listen == [ListenAddress(host: "0.0.0.0", port: 8181)])
        #expect(c.auth.tokens == ["env-token"])
        #expect(c.effectiveOrigins == ["http://a.example", "https://b.example:8443"])
    }

    @Test func portFromEnvironmentMovesTheDefaultOrigins() throws {
        let c = try ConfigLoader.load(path: nil, environment: ["PORT": "9090"])
        #expect(c.effectiveOrigins == ["http://localhost:9090", "http://127.0.0.1:9090"])
    }

    @Test func badEnvironmentIsAnError() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: nil, environment: ["PORT": "80000"]) }
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: nil, environment: ["ALLOWED_ORIGINS": "nope"]) }
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: nil, environment: ["CHAT_TOKEN": ""]) }
    }
}

@Suite struct RetentionConfigTests {
    @Test func perRoomTables() throws {
        let c = try ConfigLoader.parse(
            """
            [retention]
            max_messages = 100
            [retention.rooms.support]
            max_messages = 5
            max_age_hours = 24
            """, file: "f.toml")
        #expect(c.retention.policy(for: "lobby") == .init(maxMessages: 100))
        #expect(c.retention.policy(for: "support") == .init(maxMessages: 5, maxAgeHours: 24))
    }

    @Test func badRoomEntriesNameTheirKey() {
        do {
            _ = try ConfigLoader.parse("[retention.rooms.support]\nmax_mesages = 5\n", file: "f.toml")
            Issue.record("accepted an unknown key")
        } catch {
            #expect(error.kind == .unknownKey && error.key == "retention.rooms.support.max_mesages" && error.line == 2)
        }
        do {
            _ = try ConfigLoader.parse("[retention]\nmax_messages = -1\n", file: "f.toml")
            Issue.record("accepted a negative count")
        } catch {
            #expect(error.kind == .outOfRange && error.key == "retention.max_messages")
        }
    }
}
