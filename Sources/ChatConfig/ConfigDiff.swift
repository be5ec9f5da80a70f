/// What a reload changes: the keys whose values differ, split into those applied at once
/// and those that need a restart (addresses and sockets chatd has already bound).
public struct ConfigDiff: Sendable, Equatable {
    public var applied: [String]
    public var needsRestart: [String]

    public var isEmpty: Bool { applied.isEmpty && needsRestart.isEmpty }

    /// Keys that take effect only when chatd restarts (`ConfigKey.Reload.restart`): the diff
    /// classifies by them and `Config.keepingRestartOnlyKeys(from:)` copies them.
    public static let restartKeys: Set<String> = Set(restartOnly.map(\.path))

    static let restartOnly = ConfigKeys.all.filter { $0.reload == .restart }

    /// Every key the diff knows, for the test that keeps it in step with the schema.
    public static var keys: [String] { ConfigKeys.all.map(\.path).sorted() }

    /// Keys in the order of etc/chatd.toml.
    public static func between(_ old: Config, _ new: Config) -> ConfigDiff {
        var diff = ConfigDiff(applied: [], needsRestart: [])
        for key in ConfigKeys.all where key.shown(old) != key.shown(new) {
            if key.reload == .restart {
                diff.needsRestart.append(key.path)
            } else {
                diff.applied.append(key.path)
            }
        }
        return diff
    }
}

extension Config {
    /// This configuration as it runs after a reload from `running`: every restart-only key
    /// (`ConfigDiff.restartKeys`) keeps its running value, so that status shows what is in
    /// force and the next reload's diff is measured against it.
    public func keepingRestartOnlyKeys(from running: Config) -> Config {
        var effective = self
        for key in ConfigDiff.restartOnly { key.keep(&effective, running) }
        return effective
    }
}
