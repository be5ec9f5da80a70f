import ChatCore
import TOMLKit

/// Walks the parsed TOML against `ConfigKeys`: every section and key must be known and
/// of the right type. Ranges are checked afterwards by `Validation`, on the whole value.
struct TableReader {
    let file: String
    let lines: KeyLines

    func read(_ table: TOMLTable, into config: inout Config) throws(ConfigError) {
        let sections = ConfigKeys.sections
        for (section, value) in table.sorted(by: { $0.0 < $1.0 }) {
            guard let fields = sections[section] else {
                throw error(.unknownKey, section, "unknown section; known sections: \(sections.keys.sorted().joined(separator: ", "))")
            }
            guard let sub = value.table else {
                throw error(.wrongType, section, "must be a table ([\(section)]), got \(value.type)")
            }
            // A section that is one table of named tables (`[webhooks.NAME]`).
            if fields.count == 1, let whole = fields["NAME"] {
                try whole.read(self, value, section, &config)
                continue
            }
            for (name, item) in sub.sorted(by: { $0.0 < $1.0 }) {
                let key = "\(section).\(name)"
                guard let entry = fields[name] else {
                    throw error(
                        .unknownKey, key, "unknown key; known keys in [\(section)]: \(fields.keys.sorted().joined(separator: ", "))")
                }
                try entry.read(self, item, key, &config)
            }
        }
    }

    func error(_ kind: ConfigError.Kind, _ key: String, _ message: String) -> ConfigError {
        ConfigError(kind: kind, file: file, line: lines.line(of: key), key: key, message: message)
    }

    func int(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Int {
        guard let n = v.int else { throw error(.wrongType, key, "must be an integer, got \(v.type)") }
        return n
    }

    func number(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Double {
        if let n = v.int { return Double(n) }
        guard let d = v.double else { throw error(.wrongType, key, "must be a number, got \(v.type)") }
        return d
    }

    func bool(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Bool {
        guard let b = v.bool else { throw error(.wrongType, key, "must be true or false, got \(v.type)") }
        return b
    }

    func string(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> String {
        guard let s = v.string else { throw error(.wrongType, key, "must be a string, got \(v.type)") }
        return s
    }

    func stringList(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String] {
        try list(v, key, of: "strings") { $0.string }
    }

    /// `[retention.rooms.NAME]` tables: `max_messages` and `max_age_hours` each.
    func retentionRooms(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: Config.Retention.Policy] {
        try namedTables(v, key, what: "room", valid: Sanitize.isValidRoom, initial: Config.Retention.Policy()) {
            (policy: inout Config.Retention.Policy, name, item, k) throws(ConfigError) in
            switch name {
            case "max_messages": policy.maxMessages = try int(item, k)
            case "max_age_hours": policy.maxAgeHours = try number(item, k)
            default: throw error(.unknownKey, k, "unknown key; known keys: max_age_hours, max_messages")
            }
        }
    }

    /// `[auth.credentials.NAME]` tables: `token_sha256`, `role`, `rooms`, `guest_names`.
    func credentials(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: Config.Credential] {
        try namedTables(v, key, what: "name", valid: Sanitize.isValidName, initial: Config.Credential()) {
            (c: inout Config.Credential, name, item, k) throws(ConfigError) in
            switch name {
            case "token_sha256": c.tokenSHA256 = try string(item, k)
            case "role": c.role = try oneOf(item, k, Role.self)
            case "rooms": c.rooms = try stringList(item, k)
            case "guest_names": c.guestNames = try bool(item, k)
            default: throw error(.unknownKey, k, "unknown key; known keys: guest_names, role, rooms, token_sha256")
            }
        }
    }

    /// `[api.keys.NAME]` tables: `key_sha256`, `rooms`.
    func apiKeys(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: Config.APIKey] {
        try namedTables(v, key, what: "name", valid: Sanitize.isValidName, initial: Config.APIKey()) {
            (c: inout Config.APIKey, name, item, k) throws(ConfigError) in
            switch name {
            case "key_sha256": c.keySHA256 = try string(item, k)
            case "rooms": c.rooms = try stringList(item, k)
            default: throw error(.unknownKey, k, "unknown key; known keys: key_sha256, rooms")
            }
        }
    }

    /// `[webhooks.NAME]` tables: `url`, `secret_file`, `events`, `rooms`, `timeout_seconds`,
    /// `max_age_seconds`.
    func webhooks(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: Config.Webhook] {
        try namedTables(v, key, what: "webhook name", valid: Sanitize.isValidRoom, initial: Config.Webhook()) {
            (hook: inout Config.Webhook, name, item, k) throws(ConfigError) in
            switch name {
            case "url": hook.url = try string(item, k)
            case "secret_file": hook.secretFile = try string(item, k)
            case "events": hook.events = try stringList(item, k)
            case "rooms": hook.rooms = try stringList(item, k)
            case "timeout_seconds": hook.timeoutSeconds = try number(item, k)
            case "max_age_seconds": hook.maxAgeSeconds = try number(item, k)
            default:
                throw error(.unknownKey, k, "unknown key; known keys: events, max_age_seconds, rooms, secret_file, timeout_seconds, url")
            }
        }
    }

    /// `[rooms.rules.PATTERN]` tables: `join`, `send`, `max_members`.
    func roomRules(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [String: RoomRule] {
        try namedTables(v, key, what: "room or pattern", valid: RoomPatterns.isValid, initial: RoomRule()) {
            (rule: inout RoomRule, name, item, k) throws(ConfigError) in
            switch name {
            case "join": rule.join = try oneOf(item, k, RoomRule.Join.self)
            case "send": rule.send = try oneOf(item, k, RoomRule.Send.self)
            case "max_members": rule.maxMembers = try int(item, k)
            case "slow_consumer": rule.slowConsumer = try oneOf(item, k, RoomRule.SlowConsumer.self)
            default: throw error(.unknownKey, k, "unknown key; known keys: join, max_members, send, slow_consumer")
            }
        }
    }

    /// The `[auth.jwt]` table.
    func jwt(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Config.JWT {
        guard let table = v.table else { throw error(.wrongType, key, "must be a table ([\(key)]), got \(v.type)") }
        var jwt = Config.JWT()
        for (name, item) in table.sorted(by: { $0.0 < $1.0 }) {
            let k = "\(key).\(name)"
            switch name {
            case "algorithm": jwt.algorithm = try string(item, k)
            case "key_file": jwt.keyFile = try string(item, k)
            case "issuer": jwt.issuer = try string(item, k)
            case "audience": jwt.audience = try string(item, k)
            case "leeway_seconds": jwt.leewaySeconds = try number(item, k)
            case "refresh_ahead_seconds": jwt.refreshAheadSeconds = try number(item, k)
            case "guest_names": jwt.guestNames = try bool(item, k)
            default:
                throw error(
                    .unknownKey, k,
                    "unknown key; known keys: algorithm, audience, guest_names, issuer, key_file, leeway_seconds, refresh_ahead_seconds")
            }
        }
        return jwt
    }

    /// A table of tables keyed by a name `valid` accepts, each read field by field into a
    /// copy of `initial` (the defaults).
    private func namedTables<T>(
        _ v: any TOMLValueConvertible, _ key: String, what: String, valid: (String) -> Bool, initial: T,
        _ field: (inout T, String, any TOMLValueConvertible, String) throws(ConfigError) -> Void
    ) throws(ConfigError) -> [String: T] {
        guard let table = v.table else { throw error(.wrongType, key, "must be a table of tables ([\(key).NAME]), got \(v.type)") }
        var out: [String: T] = [:]
        for (entry, value) in table.sorted(by: { $0.0 < $1.0 }) {
            let entryKey = "\(key).\(entry)"
            guard valid(entry) else { throw error(.invalidValue, entryKey, "\"\(entry)\" is not a valid \(what)") }
            guard let fields = value.table else { throw error(.wrongType, entryKey, "must be a table, got \(value.type)") }
            var item = initial
            for (name, element) in fields.sorted(by: { $0.0 < $1.0 }) {
                try field(&item, name, element, "\(entryKey).\(name)")
            }
            out[entry] = item
        }
        return out
    }

    /// A string that must be one of an enumeration's raw values.
    func oneOf<E: RawRepresentable & CaseIterable>(_ v: any TOMLValueConvertible, _ key: String, _: E.Type) throws(ConfigError) -> E
    where E.RawValue == String {
        let text = try string(v, key)
        guard let value = E(rawValue: text) else {
            throw error(
                .invalidValue, key, "must be one of \(E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")), got \"\(text)\"")
        }
        return value
    }

    func publishOnError(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> Config.Proxy.OnError {
        try oneOf(v, key, Config.Proxy.OnError.self)
    }

    func intList(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [Int] {
        try list(v, key, of: "integers") { $0.int }
    }

    /// An array whose every element `element` can read; `kind` names them in errors.
    private func list<T>(
        _ v: any TOMLValueConvertible, _ key: String, of kind: String,
        _ element: (any TOMLValueConvertible) -> T?
    ) throws(ConfigError) -> [T] {
        guard let array = v.array else { throw error(.wrongType, key, "must be an array of \(kind), got \(v.type)") }
        var out: [T] = []
        for item in array {
            guard let value = element(item) else {
                throw error(.wrongType, key, "must be an array of \(kind), found an element of type \(item.type)")
            }
            out.append(value)
        }
        return out
    }

    /// One `"host:port"` string or an array of them.
    func listenList(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> [ListenAddress] {
        let texts: [String]
        if let single = v.string { texts = [single] } else { texts = try stringList(v, key) }
        var out: [ListenAddress] = []
        for text in texts {
            guard let address = ListenAddress.parse(text) else {
                throw error(.invalidValue, key, "\"\(text)\" is not host:port with a port 0...65535 (IPv6 as [::1]:8080)")
            }
            out.append(address)
        }
        return out
    }

    /// One `"host:port"`, or `""` for none.
    func listenOrNone(_ v: any TOMLValueConvertible, _ key: String) throws(ConfigError) -> ListenAddress? {
        let text = try string(v, key)
        if text.isEmpty { return nil }
        guard let address = ListenAddress.parse(text) else {
            throw error(.invalidValue, key, "\"\(text)\" is not host:port with a port 0...65535, or \"\" to disable")
        }
        return address
    }
}
