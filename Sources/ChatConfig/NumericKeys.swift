/// One numeric configuration key and the values it may take. `NumericKeys.all` (gathered
/// from `ConfigKeys.all`) is the one list: `Validation` checks every key against it,
/// chatd.toml(5) documents the same ranges, and the config-extremes tests walk it. A range's
/// bounds are chosen so that no value inside can overflow a conversion downstream (seconds to
/// nanoseconds in Int64, hours to milliseconds, counts into Int arithmetic).
public struct NumericKey: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A TOML integer; a float is a type error.
        case integer
        /// A TOML integer or float, finite.
        case number
    }

    /// A value as read: integers stay integers so that errors print them as written.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case integer(Int)
        case number(Double)

        public var description: String {
            switch self {
            case let .integer(n): "\(n)"
            case let .number(d): d == d.rounded() && abs(d) < 1e15 ? "\(Int(d))" : "\(d)"
            }
        }
    }

    /// `section.key`; in named tables NAME or PATTERN stands for the entry
    /// (`retention.rooms.NAME.max_messages`); an array key is checked element by element.
    public let key: String
    public let kind: Kind
    public let minimum: Double
    public let maximum: Double
    /// "seconds", "hours", "bytes", or "" for plain counts.
    public let unit: String
    /// TOML lines set beside the key when a test sets it alone, for keys whose valid values
    /// depend on a neighbour (`cluster.node_timeout_seconds` ≥ 2 × `heartbeat_seconds`) or
    /// that need one (`auth.jwt` needs a key file).
    public let companions: [String]
    /// The key's values in a config, each under the key it has in the file.
    let values: @Sendable (Config) -> [(key: String, value: Value)]

    init(
        _ key: String, _ kind: Kind, _ range: ClosedRange<Double>, _ unit: String = "",
        companions: [String] = [], values: @escaping @Sendable (Config) -> [(key: String, value: Value)]
    ) {
        self.key = key
        self.kind = kind
        minimum = range.lowerBound
        maximum = range.upperBound
        self.unit = unit
        self.companions = companions
        self.values = values
    }

    /// A field of every entry of a named table (`rooms.rules.PATTERN.max_members`), each
    /// under the key it has in the file.
    init<Entry, N: ConfigNumber>(
        _ key: String, entries table: any KeyPath<Config, [String: Entry]> & Sendable,
        _ field: any KeyPath<Entry, N> & Sendable, _ range: ClosedRange<Double>, _ unit: String = "",
        companions: [String] = []
    ) {
        var parts = key.split(separator: ".")
        let name = parts.removeLast()
        let prefix = parts.dropLast().joined(separator: ".")
        self.init(key, N.kind, range, unit, companions: companions) { c in
            c[keyPath: table].sorted { $0.key < $1.key }.map { ("\(prefix).\($0.key).\(name)", $0.value[keyPath: field].numericValue) }
        }
    }

    /// Whether `value` is allowed; NaN and infinities never are.
    public func accepts(_ value: Value) -> Bool {
        switch value {
        case let .integer(n):
            // Bounds are small whole numbers, exact as Int; comparing as Int avoids rounding.
            return n >= Int(minimum) && n <= Int(maximum)
        case let .number(d):
            return d.isFinite && d >= minimum && d <= maximum
        }
    }

    /// The range as chatd.toml(5) and errors write it: `0...3600 seconds`.
    public var rangeText: String {
        let text = "\(Value.number(minimum))...\(Value.number(maximum))"
        return unit.isEmpty ? text : "\(text) \(unit)"
    }

    /// The TOML section holding the key (`rooms.rules."*"` for a PATTERN, `retention.rooms.r`
    /// for a NAME), and the key's name in it.
    public var tomlLocation: (section: String, name: String) {
        var parts = key.split(separator: ".").map(String.init)
        let name = parts.removeLast()
        let section = parts.map { part in
            switch part {
            case "PATTERN": "\"*\""
            case "NAME": "r"
            default: part
            }
        }.joined(separator: ".")
        return (section, name)
    }

    /// A config file that sets only this key to `literal` (a TOML value, e.g. `1e10`),
    /// with its companions; an array key gets a one-element array.
    public func toml(_ literal: String) -> String {
        let (section, name) = tomlLocation
        let value = key == "control.allowed_uids" ? "[\(literal)]" : literal
        return (["[\(section)]"] + companions + ["\(name) = \(value)"]).joined(separator: "\n") + "\n"
    }
}

public enum NumericKeys {
    /// Every numeric key, in the order of etc/chatd.toml.
    public static let all: [NumericKey] = ConfigKeys.all.flatMap(\.numeric)

    /// The entry for `key` as written in the list (with NAME/PATTERN).
    public static func named(_ key: String) -> NumericKey? { all.first { $0.key == key } }
}
