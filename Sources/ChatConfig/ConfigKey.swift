import TOMLKit

/// One configuration key: where it sits in the file, how it is read, its numeric ranges and
/// how a reload applies it. Built from a key path into `Config`, so that reading, comparing
/// and keeping the running value cannot disagree about the field.
public struct ConfigKey: Sendable {
    /// When a reloaded value takes effect.
    public enum Reload: String, Sendable, CaseIterable {
        /// Bound at start (sockets, threads, the store, the cluster link, the logger): a reload
        /// reports the change and keeps the running value until chatd restarts.
        case restart
        /// Connections already open take it too, at their next message, join or heartbeat.
        case openConnections
        /// From the next accept, upgrade or HTTP request; open connections keep theirs.
        case newConnections
        /// Server-wide, from its next use: the next join, publish, retention run, control
        /// connection, page request or stop.
        case nextUse
    }

    /// `section.key`; a named table (`[rooms.rules.PATTERN]`) is one key, its fields read by
    /// `TableReader`.
    public let path: String
    public let reload: Reload
    /// The key's range, or its named tables' numeric fields; empty when not numeric.
    public let numeric: [NumericKey]
    let read: @Sendable (TableReader, any TOMLValueConvertible, String, inout Config) throws(ConfigError) -> Void
    /// The value as the reload diff compares it.
    let shown: @Sendable (Config) -> String
    /// Copies the running value over a reloaded one.
    let keep: @Sendable (inout Config, Config) -> Void

    var section: String { String(path.prefix { $0 != "." }) }
    var name: String { String(path.drop { $0 != "." }.dropFirst()) }
}

extension ConfigKey {
    /// An unapplied `TableReader` method (`TableReader.string`); an optional field takes its
    /// value's reader, which Swift converts to `Reader<T?>`.
    typealias Reader<T> = @Sendable (TableReader) -> (any TOMLValueConvertible, String) throws(ConfigError) -> T

    static func field<T>(
        _ path: String, _ field: any WritableKeyPath<Config, T> & Sendable, _ reload: Reload,
        _ read: @escaping Reader<T>, numeric: [NumericKey] = [],
        shown: (@Sendable (Config) -> String)? = nil
    ) -> ConfigKey {
        ConfigKey(
            path: path, reload: reload, numeric: numeric,
            read: { r, v, k, c throws(ConfigError) in c[keyPath: field] = try read(r)(v, k) },
            shown: shown ?? { "\($0[keyPath: field])" },
            keep: { $0[keyPath: field] = $1[keyPath: field] }
        )
    }

    /// `[path.NAME]` tables, compared in name order (a dictionary's order is not stable).
    static func table<T>(
        _ path: String, _ field: any WritableKeyPath<Config, [String: T]> & Sendable, _ reload: Reload,
        _ read: @escaping Reader<[String: T]>, numeric: [NumericKey] = []
    ) -> ConfigKey {
        .field(path, field, reload, read, numeric: numeric) { "\($0[keyPath: field].sorted { $0.key < $1.key })" }
    }

    /// A number with its range; `unit` is "seconds", "hours", "bytes" or "" for counts.
    static func numeric<N: ConfigNumber>(
        _ path: String, _ field: any WritableKeyPath<Config, N> & Sendable, _ reload: Reload,
        _ range: ClosedRange<Double>, _ unit: String = "",
        companions: [String] = []
    ) -> ConfigKey {
        .field(
            path, field, reload, N.read,
            numeric: [
                NumericKey(path, N.kind, range, unit, companions: companions) { [(path, $0[keyPath: field].numericValue)] }
            ])
    }
}

/// The two kinds of number a key holds: `Int` (a TOML integer) and `Double` (any number).
protocol ConfigNumber: Sendable {
    static var kind: NumericKey.Kind { get }
    static var read: ConfigKey.Reader<Self> { get }
    var numericValue: NumericKey.Value { get }
}

extension Int: ConfigNumber {
    static var kind: NumericKey.Kind { .integer }
    static var read: ConfigKey.Reader<Int> { TableReader.int }
    var numericValue: NumericKey.Value { .integer(self) }
}

extension Double: ConfigNumber {
    static var kind: NumericKey.Kind { .number }
    static var read: ConfigKey.Reader<Double> { TableReader.number }
    var numericValue: NumericKey.Value { .number(self) }
}
