import ChatCore
import Foundation
import TOMLKit

/// Reads a TOML file into a validated `Config`, then applies the article's environment
/// variables (`PORT`, `CHAT_TOKEN`, `ALLOWED_ORIGINS`) and `CHATD_DATABASE_URL`, which win over the file.
public enum ConfigLoader {
    /// Loads `path` (or the built-in defaults when nil) and applies `environment`.
    public static func load(path: String?, environment: [String: String] = [:]) throws(ConfigError) -> Config {
        var config = Config()
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigError(
                    kind: .unreadable, file: path, line: nil, key: nil,
                    message: "cannot read the file: \(Self.describe(error))")
            }
            config = try parse(text, file: path)
        }
        return try applyEnvironment(environment, to: config)
    }

    /// Parses and validates TOML text; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> Config {
        if let line = HeaderCheck.firstBadHeader(in: text) {
            throw ConfigError(
                kind: .syntax, file: file, line: line, key: nil,
                message: "TOML syntax error: a table header must start with a key (a-z A-Z 0-9 _ - or a quoted key)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(
                kind: .syntax, file: file, line: error.source.begin.line, key: nil,
                message: "TOML syntax error: \(error.description)")
        } catch {
            throw ConfigError(kind: .syntax, file: file, line: nil, key: nil, message: "TOML syntax error: \(error)")
        }
        let reader = TableReader(file: file, lines: KeyLines(text: text))
        var config = Config()
        try reader.read(table, into: &config)
        try Validation.check(config, file: file, lines: reader.lines)
        try readKeyFiles(&config, file: file, lines: reader.lines)
        return config
    }

    /// Checks a `Config` that was built rather than read (a reload handed one in code) as a
    /// file's would be, so that no value outside its range reaches a running server. Errors
    /// name `file` and the key, without a line.
    public static func validate(_ config: Config, file: String) throws(ConfigError) {
        try Validation.check(config, file: file, lines: KeyLines(text: ""))
    }

    /// Reads `auth.jwt.key_file` and each `webhooks.NAME.secret_file` (relative paths from the
    /// config file's folder), so that a missing or short key is a config error at load and on
    /// reload, never a 401 or an unsigned event later.
    static func readKeyFiles(_ config: inout Config, file: String, lines: KeyLines) throws(ConfigError) {
        for (name, hook) in config.webhooks.sorted(by: { $0.key < $1.key }) {
            let key = "webhooks.\(name).secret_file"
            let (path, bytes) = try readFile(hook.secretFile, key: key, file: file, lines: lines)
            config.webhooks[name]?.secret = try secret(bytes, named: "the secret", path: path, key: key, file: file, lines: lines)
        }
        guard var jwt = config.auth.jwt else { return }
        let key = "auth.jwt.key_file"
        let (path, bytes) = try readFile(jwt.keyFile, key: key, file: file, lines: lines)
        if jwt.algorithm == "HS256" {
            jwt.key = try secret(bytes, named: "the HS256 secret", path: path, key: key, file: file, lines: lines)
        } else {
            if !String(decoding: bytes, as: UTF8.self).contains("-----BEGIN PUBLIC KEY-----") {
                throw ConfigError(
                    kind: .invalidValue, file: file, line: lines.line(of: key), key: key,
                    message: "\(path) is not a PEM public key (-----BEGIN PUBLIC KEY-----)")
            }
            jwt.key = bytes
        }
        config.auth.jwt = jwt
    }

    /// The file `named` names (relative to the config file's folder) and its bytes.
    private static func readFile(
        _ named: String, key: String, file: String, lines: KeyLines
    ) throws(ConfigError) -> (path: String, bytes: [UInt8]) {
        var path = named
        if !path.hasPrefix("/") { path = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).path }
        do {
            return (path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        } catch {
            throw ConfigError(
                kind: .unreadable, file: file, line: lines.line(of: key), key: key, message: "cannot read \(path): \(describe(error))")
        }
    }

    /// A shared secret from its file's bytes: at least 32 bytes. A text secret usually ends
    /// with a newline that is not part of it; a binary one (`head -c 32 /dev/urandom`, not
    /// valid UTF-8) is taken byte for byte, since decoding it as text would replace its bytes
    /// and trimming would cut them.
    private static func secret(
        _ bytes: [UInt8], named: String, path: String, key: String, file: String, lines: KeyLines
    ) throws(ConfigError) -> [UInt8] {
        let secret =
            String(validating: bytes, as: UTF8.self).map { Array($0.trimmingCharacters(in: .whitespacesAndNewlines).utf8) } ?? bytes
        if secret.count < 32 {
            throw ConfigError(
                kind: .invalidValue, file: file, line: lines.line(of: key), key: key,
                message: "\(named) in \(path) must be at least 32 bytes, got \(secret.count)")
        }
        return secret
    }

    /// The article's variables: `PORT` replaces every listen port, `CHAT_TOKEN` the token
    /// list, `ALLOWED_ORIGINS` (comma-separated) the origin list.
    public static func applyEnvironment(_ env: [String: String], to base: Config) throws(ConfigError) -> Config {
        var config = base
        if let portText = env["PORT"] {
            guard let port = Int(portText.trimmingCharacters(in: .whitespaces)), (0...65535).contains(port) else {
                throw ConfigError(
                    kind: .outOfRange, file: "environment", line: nil, key: "PORT",
                    message: "must be a port number 0...65535, got \"\(portText)\"")
            }
            config.server.listen = config.server.listen.map { ListenAddress(host: $0.host, port: port) }
        }
        if let token = env["CHAT_TOKEN"] {
            guard !token.isEmpty else {
                throw ConfigError(
                    kind: .invalidValue, file: "environment", line: nil, key: "CHAT_TOKEN",
                    message: "must not be empty")
            }
            config.auth.tokens = [token]
        }
        if let url = env["CHATD_DATABASE_URL"], !url.isEmpty {
            guard PostgresURL(url) != nil else {
                throw ConfigError(
                    kind: .invalidValue, file: "environment", line: nil, key: "CHATD_DATABASE_URL",
                    message: "must be postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]")
            }
            config.cluster.databaseURL = url
        }
        if let origins = env["ALLOWED_ORIGINS"] {
            let list = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for origin in list where !Validation.isOrigin(origin) {
                throw ConfigError(
                    kind: .invalidValue, file: "environment", line: nil, key: "ALLOWED_ORIGINS",
                    message: "\"\(origin)\" is not an origin (scheme://host[:port], no path)")
            }
            config.auth.allowedOrigins = list
        }
        return config
    }

    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        // On Linux the underlying error is stored as a Swift `Error`, which `as? NSError` misses.
        if let underlying = (ns.userInfo[NSUnderlyingErrorKey] as? any Error).map({ $0 as NSError }),
            underlying.domain == NSPOSIXErrorDomain, let cmsg = strerror(Int32(truncatingIfNeeded: underlying.code))
        {
            return String(cString: cmsg)
        }
        return ns.localizedDescription
    }
}
