import Testing

@testable import ChatConfig

func parseConfig(_ text: String, file: String = "/etc/chatd/chatd.toml") throws(ConfigError) -> Config {
    try ConfigLoader.parse(text, file: file)
}

/// The error loading `text` gives, or nil when it loads.
func configError(_ text: String) -> ConfigError? {
    do {
        _ = try parseConfig(text)
        return nil
    } catch {
        return error
    }
}

/// Loading `text` fails with this kind of error, naming `key` at `line`.
func expectConfigError(
    _ text: String, _ kind: ConfigError.Kind, key: String, line: Int?,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let e = configError(text)
    #expect(e?.kind == kind, sourceLocation: sourceLocation)
    #expect(e?.key == key, sourceLocation: sourceLocation)
    #expect(e?.line == line, sourceLocation: sourceLocation)
}
