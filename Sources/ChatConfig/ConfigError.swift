/// A configuration problem, phrased for the operator: the file, the line where it is known,
/// the key, and what is wrong. Its description reads like a compiler's:
/// `/etc/chatd/chatd.toml:12: limits.rate_messages: must be at least 1, got -5`.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unreadable
        case syntax
        case unknownKey
        case wrongType
        case outOfRange
        case invalidValue
    }

    public var kind: Kind
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String

    public init(kind: Kind, file: String, line: Int?, key: String?, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if let key { s += "\(key): " }
        return s + message
    }
}
