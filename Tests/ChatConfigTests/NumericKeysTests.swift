import Foundation
import Testing

@testable import ChatConfig

/// A folder holding `chatd.toml`'s neighbours (the HS256 secret `auth.jwt` companions name).
let numericKeysFolder: String = {
    let folder = NSTemporaryDirectory() + "chatd-numeric-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: folder + "/jwt.secret", contents: Data(String(repeating: "s", count: 40).utf8))
    return folder
}()

extension NumericKey {
    /// The key as an error names it in `toml(_:)`'s file.
    var keyInFile: String {
        key.replacingOccurrences(of: "NAME", with: "r").replacingOccurrences(of: "PATTERN", with: "*")
    }

    /// The line `toml(_:)` puts the key on.
    var lineInFile: Int { companions.count + 2 }

    /// TOML literals of the bounds (accepted) and of values just outside them, far outside
    /// them and not numbers at all (refused as out of range).
    var extremes: (accepted: [String], refused: [String]) {
        switch kind {
        case .integer:
            let (lo, hi) = (Int(minimum), Int(maximum))
            return (["\(lo)", "\(hi)"], ["\(lo - 1)", "\(hi + 1)", "10000000000", "-10000000000"])
        case .number:
            return (
                ["\(Value.number(minimum))", "\(Value.number(maximum))"],
                ["\(minimum - 0.001)", "\(maximum + 0.001)", "1e10", "-1e10", "nan", "inf", "-inf"]
            )
        }
    }
}

func parseInFolder(_ text: String) throws(ConfigError) -> Config {
    try ConfigLoader.parse(text, file: numericKeysFolder + "/chatd.toml")
}

func errorInFolder(_ text: String) -> ConfigError? {
    do {
        _ = try parseInFolder(text)
        return nil
    } catch {
        return error
    }
}

@Suite struct NumericKeysTests {
    @Test(arguments: NumericKeys.all.map(\.key))
    func boundsAreAcceptedAndEverythingOutsideRefusedWithFileLineAndKey(key: String) throws {
        let numeric = try #require(NumericKeys.named(key))
        for literal in numeric.extremes.accepted {
            let text = numeric.toml(literal)
            let config = try parseInFolder(text)
            let values = numeric.values(config)
            #expect(values.count == 1 && values.allSatisfy { numeric.accepts($0.value) }, "\(text)")
        }
        for literal in numeric.extremes.refused {
            let text = numeric.toml(literal)
            let e = errorInFolder(text)
            #expect(e?.kind == .outOfRange, "\(text) → \(String(describing: e))")
            #expect(e?.key == numeric.keyInFile, "\(text)")
            #expect(e?.line == numeric.lineInFile, "\(text)")
            #expect(
                e?.description.hasPrefix("\(numericKeysFolder)/chatd.toml:\(numeric.lineInFile): \(numeric.keyInFile): must be ") == true,
                "\(String(describing: e))")
        }
    }

    @Test(arguments: NumericKeys.all.filter { $0.kind == .integer }.map(\.key))
    func integerKeysRefuseFloats(key: String) throws {
        let numeric = try #require(NumericKeys.named(key))
        for literal in ["1e10", "\(Int(numeric.minimum)).5", "nan"] {
            let e = errorInFolder(numeric.toml(literal))
            #expect(e?.kind == .wrongType && e?.key == numeric.keyInFile && e?.line == numeric.lineInFile, "\(literal)")
        }
    }

    @Test func errorsSayWhichBoundWasCrossed() {
        let text = "[limits]\nhandshake_timeout_seconds = 1e10\n"
        #expect(
            errorInFolder(text)?.description
                == "\(numericKeysFolder)/chatd.toml:2: limits.handshake_timeout_seconds: must be at most 3600 seconds, got 10000000000")
        #expect(errorInFolder("[limits]\nrate_messages = -5\n")?.message == "must be at least 1, got -5")
        #expect(
            errorInFolder("[heartbeat]\nping_interval_seconds = nan\n")?.message
                == "must be a finite number, 0.1...86400 seconds, got nan")
    }

    /// Every key of the schema, given a number no key may hold, is refused: a numeric key
    /// missing from `NumericKeys` would accept it, so the list cannot fall behind the schema.
    @Test func everyNumericKeyOfTheSchemaIsInTheList() throws {
        let tables: [String: (header: String, names: [String])] = [
            "auth.credentials": ("[auth.credentials.r]", ["token_sha256", "role", "rooms", "guest_names"]),
            "auth.jwt": (
                "[auth.jwt]", ["algorithm", "key_file", "issuer", "audience", "leeway_seconds", "refresh_ahead_seconds", "guest_names"]
            ),
            "api.keys": ("[api.keys.r]", ["key_sha256", "rooms"]),
            "rooms.rules": ("[rooms.rules.\"*\"]", ["join", "send", "max_members", "slow_consumer"]),
            "retention.rooms": ("[retention.rooms.r]", ["max_messages", "max_age_hours"]),
            "webhooks.NAME": (
                "[webhooks.r]", ["url", "secret_file", "events", "rooms", "timeout_seconds", "max_age_seconds"]
            ),
        ]
        var walked: [(header: String, name: String, key: String)] = []
        for key in ConfigSchema.keys {
            if let table = tables[key] {
                for name in table.names {
                    let listed =
                        key == "auth.jwt" || key.hasSuffix(".NAME")
                        ? "\(key).\(name)"
                        : "\(key).\(key.hasPrefix("rooms") ? "PATTERN" : "NAME").\(name)"
                    walked.append((table.header, name, listed))
                }
            } else {
                let parts = key.split(separator: ".")
                walked.append(("[\(parts[0])]", String(parts[1]), key))
            }
        }
        var numericSeen: Set<String> = []
        for (header, name, listed) in walked {
            let numeric = NumericKeys.named(listed)
            if numeric != nil { numericSeen.insert(listed) }
            for literal in ["9223372036854775807", "-9223372036854775808", "1e300", "[9223372036854775807]"] {
                let text = "\(header)\n\(name) = \(literal)\n"
                let e = errorInFolder(text)
                #expect(e != nil, "\(listed) accepted \(literal)")
                let isArray = literal.hasPrefix("[")
                let expected: ConfigError.Kind
                if let numeric {
                    let fits =
                        isArray == (numeric.key == "control.allowed_uids")
                        && (numeric.kind == .number || !literal.contains("e"))
                    expected = fits ? .outOfRange : .wrongType
                } else {
                    expected = .wrongType
                }
                #expect(e?.kind == expected, "\(text) → \(String(describing: e))")
                #expect(e?.line == 2, "\(text)")
            }
        }
        #expect(numericSeen == Set(NumericKeys.all.map(\.key)))
    }

    @Test func nothingOutsideTheRangeReachesAConversion() {
        #expect(Clamped.nanoseconds(seconds: 1.5) == 1_500_000_000)
        #expect(Clamped.nanoseconds(seconds: 1e10) == .max)
        #expect(Clamped.nanoseconds(seconds: .infinity) == .max)
        #expect(Clamped.nanoseconds(seconds: 9_223_372_036.854775807) == .max)
        #expect(Clamped.nanoseconds(seconds: -1e10) == 0)
        #expect(Clamped.nanoseconds(seconds: .nan) == 0)
        #expect(Clamped.milliseconds(seconds: 3600) == 3_600_000)
        #expect(Clamped.milliseconds(seconds: -.infinity) == 0)
        // The largest accepted seconds stay far from the clamp: validation, not clamping,
        // is what keeps values exact.
        for numeric in NumericKeys.all where numeric.unit == "seconds" {
            #expect(Clamped.nanoseconds(seconds: numeric.maximum) < .max / 1000, "\(numeric.key)")
        }
    }
}

/// The ranges are documented where operators read them: chatd.toml(5) and configuration.md.
@Suite struct NumericKeysDocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    @Test func manPageGivesEveryRange() throws {
        let page = try String(contentsOf: Self.root.appendingPathComponent("man/chatd.toml.5"), encoding: .utf8)
        for numeric in NumericKeys.all {
            let parts = numeric.key.split(separator: ".")
            let (section, name) = (String(parts[0]), String(parts.last!))
            let sectionText = try #require(
                page.components(separatedBy: ".SH [\(section)]\n").dropFirst().first?
                    .components(separatedBy: "\n.SH ").first, "no [\(section)] in chatd.toml(5)")
            let entry = try #require(
                sectionText.components(separatedBy: ".B \(name)\n").dropFirst().first?
                    .components(separatedBy: "\n.TP\n").first, "\(numeric.key) missing from chatd.toml(5)")
            let range = numeric.rangeText
            #expect(entry.contains(range), "chatd.toml(5) does not give \(numeric.key) its range \(range)")
        }
    }

    @Test func configurationDocGivesEveryRange() throws {
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for numeric in NumericKeys.all {
            // A room's own retention policy is documented "as above", with the defaults.
            let key = numeric.key.replacingOccurrences(of: "retention.rooms.NAME.", with: "retention.")
            let row = try #require(doc.split(separator: "\n").first { $0.hasPrefix("| `\(key)` |") }, "\(key) missing")
            let range = "\(NumericKey.Value.number(numeric.minimum))…\(NumericKey.Value.number(numeric.maximum))"
            let kind = numeric.kind == .integer ? "integer" : "number"
            #expect(row.contains(range) && row.contains(kind), "docs/configuration.md: \(key) should say \(kind) \(range)")
        }
    }
}

/// Restart-only keys come from one list; a reload keeps their running values, so a second
/// reload measures against what runs.
@Suite struct RestartKeysTests {
    /// A change to each restart-only key; the test fails when the list grows without one.
    static let changes: [String: @Sendable (inout Config) -> Void] = [
        "server.listen": { $0.server.listen = [ListenAddress(host: "127.0.0.2", port: 8080)] },
        "server.threads": { $0.server.threads = 3 },
        "metrics.listen": { $0.metrics.listen = nil },
        "control.socket": { $0.control.socket = "/run/other.sock" },
        "log.level": { $0.log.level = "debug" },
        "history.path": { $0.history.path = "/var/lib/other/history.sqlite" },
        "history.synchronous": { $0.history.synchronous = "full" },
        "cluster.database_url": { $0.cluster.databaseURL = "postgres://u@h/db" },
        "cluster.node_id": { $0.cluster.nodeID = "other" },
        "cluster.heartbeat_seconds": { $0.cluster.heartbeatSeconds = 1 },
        "cluster.node_timeout_seconds": { $0.cluster.nodeTimeoutSeconds = 20 },
    ]

    @Test func everyRestartKeyHasAChangeAndADiffEntry() {
        #expect(Set(Self.changes.keys) == ConfigDiff.restartKeys)
        #expect(ConfigDiff.restartKeys.isSubset(of: Set(ConfigDiff.keys)))
        #expect(
            Set(ConfigSchema.keys).subtracting(ConfigDiff.keys).isEmpty,
            "keys a reload would apply silently: \(Set(ConfigSchema.keys).subtracting(ConfigDiff.keys).sorted())")
    }

    @Test(arguments: ConfigDiff.restartKeys.sorted())
    func aReloadKeepsTheRunningValueAndTheNextDiffIsAgainstIt(key: String) throws {
        var running = Config()
        running.auth.allowedOrigins = running.effectiveOrigins
        var file = running
        let change = try #require(Self.changes[key])
        change(&file)
        #expect(file != running)
        let first = ConfigDiff.between(running, file)
        #expect(first.needsRestart == [key] && first.applied.isEmpty)
        // What runs after the reload: the file with this key as it was.
        let effective = file.keepingRestartOnlyKeys(from: running)
        #expect(effective == running)
        // The same file again still needs the restart; the old file again changes nothing.
        #expect(ConfigDiff.between(effective, file).needsRestart == [key])
        #expect(ConfigDiff.between(effective, running).isEmpty)
    }

    @Test func otherKeysApplyThroughTheRestartOnlyCopy() {
        let running = Config()
        var file = running
        file.limits.maxRooms = 5
        file.server.threads = 7
        let effective = file.keepingRestartOnlyKeys(from: running)
        #expect(effective.limits.maxRooms == 5 && effective.server.threads == running.server.threads)
    }
}
