/// A client request's JSON, read strictly (RFC 8259) in one pass over the frame's bytes.
///
/// Every request is a flat object (`{"type":"message","text":…}`), so only the top level's
/// members are kept, and of those only the ones asked for (`keeping`), each once: whatever
/// else a frame holds is checked and skipped, never built, so a frame of a million members
/// costs no more memory than one of ten. Foundation's `JSONSerialization`, used before,
/// built an `NSDictionary` of bridged values for each request and was, with reading them
/// back out, 4 % of chatd's CPU in the fan-out benchmark.
///
/// What it takes: whitespace, then one JSON value, then whitespace. Strings must be valid
/// UTF-8 with no raw control characters; `\u` escapes must pair their surrogates; a number
/// must fit a `Double`. A key given twice keeps its last value (as `JSON.parse` does).
/// Where Foundation's reader (which chatd used before) is laxer than RFC 8259, this one is
/// too, so that no client that worked stops working: a leading UTF-8 byte order mark, and
/// one trailing comma after an array's or object's last element. Nesting deeper than
/// `maxDepth` is refused, as Foundation refused it.
public struct RequestObject: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case null
        case bool(Bool)
        /// A number as a `Double`; `exact` holds its value when that is a whole number that
        /// fits a `UInt64`, however written (`5`, `5.0`, `0.5e1`, `-0`), worked out from the
        /// digits: a `Double` rounds above 2^53 and below a unit (`1.0000000000000001`).
        case number(Double, exact: UInt64?)
        case string(String)
        /// An array or an object: checked, its contents not kept.
        case container

        /// A non-negative whole number, exactly (`5`, `5.0`, `5e0`); nil for anything else.
        public var unsigned: UInt64? {
            guard case let .number(_, exact) = self else { return nil }
            return exact
        }

        public var string: String? {
            guard case let .string(value) = self else { return nil }
            return value
        }
    }

    public enum Failure: Error, Equatable {
        /// Not JSON at all.
        case notJSON
        /// JSON, but not an object.
        case notObject
    }

    /// The deepest nesting taken (the top-level object counts as 1).
    public static let maxDepth = 512

    private var keys: [String] = []
    private var values: [Value] = []

    /// How many members were kept.
    var count: Int { keys.count }

    /// The member named `key` (its last value if given twice); nil when absent or not kept.
    public subscript(key: String) -> Value? {
        keys.firstIndex(of: key).map { values[$0] }
    }

    /// Reads `bytes`, keeping the top-level members named in `keeping`.
    public static func parse(_ bytes: some Collection<UInt8>, keeping: [String]) -> Result<RequestObject, Failure> {
        if let parsed = bytes.withContiguousStorageIfAvailable({ parse(contiguous: $0, keeping: keeping) }) { return parsed }
        return Array(bytes).withUnsafeBufferPointer { parse(contiguous: $0, keeping: keeping) }
    }

    private static func parse(contiguous bytes: UnsafeBufferPointer<UInt8>, keeping: [String]) -> Result<RequestObject, Failure> {
        var reader = JSONReader(bytes: bytes)
        reader.skipByteOrderMark()
        reader.skipSpace()
        guard reader.peek == UInt8(ascii: "{") else {
            // Anything else is told apart only as JSON (a wrong type) or not.
            guard reader.skipValue(depth: 0), reader.atEnd else { return .failure(.notJSON) }
            return .failure(.notObject)
        }
        var object = RequestObject()
        guard reader.readObject(into: &object, keeping: keeping), reader.atEnd else { return .failure(.notJSON) }
        return .success(object)
    }

    /// Sets `key`'s value: a key given again replaces its value (the last one counts).
    fileprivate mutating func set(_ key: String, _ value: Value) {
        if let index = keys.firstIndex(of: key) {
            values[index] = value
        } else {
            keys.append(key)
            values.append(value)
        }
    }
}

/// The byte-level reading behind `RequestObject`: each method advances `at` past what it
/// read and returns nil or false at the first byte the grammar does not allow.
private struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    /// Only whitespace is left.
    var atEnd: Bool {
        var copy = self
        copy.skipSpace()
        return copy.at == bytes.count
    }

    mutating func skipByteOrderMark() {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { at = 3 }
    }

    mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        at += 1
        return true
    }

    /// The top-level object, the values of the members in `keeping` kept (nested ones as
    /// `.container`), the others checked and skipped.
    mutating func readObject(into object: inout RequestObject, keeping: [String]) -> Bool {
        at += 1  // "{"
        skipSpace()
        if take(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = readString() else { return false }
            skipSpace()
            guard take(UInt8(ascii: ":")) else { return false }
            skipSpace()
            if keeping.contains(key) {
                guard let value = readValue() else { return false }
                object.set(key, value)
            } else {
                guard skipValue(depth: 1) else { return false }
            }
            skipSpace()
            guard take(UInt8(ascii: ",")) else { return take(UInt8(ascii: "}")) }
            skipSpace()
            if take(UInt8(ascii: "}")) { return true }  // a trailing comma
        }
    }

    /// A member's value at depth 1.
    private mutating func readValue() -> RequestObject.Value? {
        switch peek {
        case UInt8(ascii: "\""): return readString().map { .string($0) }
        case UInt8(ascii: "{"), UInt8(ascii: "["): return skipValue(depth: 1) ? .container : nil
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default: return readNumber()
        }
    }

    /// Any value, checked but not built. Containers are walked with an explicit stack, so
    /// deep nesting costs no recursion; `depth` is how deep the value already sits.
    mutating func skipValue(depth: Int) -> Bool {
        var open: [UInt8] = []  // the closing byte of each container we are in
        while true {
            // A value starts here.
            skipSpace()
            switch peek {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let closing = bytes[at] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                at += 1
                guard depth + open.count < RequestObject.maxDepth else { return false }
                open.append(closing)
                skipSpace()
                if take(closing) {
                    open.removeLast()
                } else {
                    guard closing != UInt8(ascii: "}") || memberKey() else { return false }
                    continue
                }
            case UInt8(ascii: "\""): guard readString() != nil else { return false }
            case UInt8(ascii: "t"): guard literal("true") else { return false }
            case UInt8(ascii: "f"): guard literal("false") else { return false }
            case UInt8(ascii: "n"): guard literal("null") else { return false }
            default: guard readNumber() != nil else { return false }
            }
            // After a value: the next one in its container, or the containers' ends.
            while true {
                guard let closing = open.last else { return true }
                skipSpace()
                if take(UInt8(ascii: ",")) {
                    skipSpace()
                    if take(closing) {  // a trailing comma
                        open.removeLast()
                        continue
                    }
                    guard closing != UInt8(ascii: "}") || memberKey() else { return false }
                    break
                }
                guard take(closing) else { return false }
                open.removeLast()
            }
        }
    }

    /// `"key" :` inside a skipped object.
    private mutating func memberKey() -> Bool {
        skipSpace()
        guard readString() != nil else { return false }
        skipSpace()
        return take(UInt8(ascii: ":"))
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - at >= count else { return false }
        for offset in 0..<count where bytes[at + offset] != word.utf8Start[offset] { return false }
        at += count
        return true
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    private mutating func digits() -> Bool {
        let start = at
        while let byte = peek, Self.isDigit(byte) { at += 1 }
        return at > start
    }

    mutating func readNumber() -> RequestObject.Value? {
        let start = at
        let negative = take(UInt8(ascii: "-"))
        // An integer part without leading zeros.
        if take(UInt8(ascii: "0")) {
            if let byte = peek, Self.isDigit(byte) { return nil }
        } else if !digits() {
            return nil
        }
        var integral = true
        if take(UInt8(ascii: ".")) {
            guard digits() else { return nil }
            integral = false
        }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            _ = take(UInt8(ascii: "+")) || take(UInt8(ascii: "-"))
            guard digits() else { return nil }
            integral = false
        }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<at])
        let exact = integral && !negative ? WholeNumber.of(digits: text) : WholeNumber.of(decimal: text)
        // The grammar checked above is a subset of what `Double` reads; past its range it
        // gives ±infinity, which Foundation refused as not JSON.
        guard let double = Double(String(decoding: text, as: UTF8.self)), double.isFinite else { return nil }
        return .number(double, exact: exact)
    }

    /// A string, with its escapes undone.
    mutating func readString() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = at
        // Most strings have no escape: validated and made straight from the frame's bytes.
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                defer { at += 1 }
                return String(validating: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            at += 1
        }
        guard at < bytes.count else { return nil }
        var unescaped = Array(bytes[start..<at])
        while at < bytes.count {
            let byte = bytes[at]
            at += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: unescaped, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = peek else { return nil }
                at += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escaped)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(0x0A)
                case UInt8(ascii: "r"): unescaped.append(0x0D)
                case UInt8(ascii: "t"): unescaped.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    UTF8.encode(scalar) { unescaped.append($0) }
                default: return nil
                }
            default:
                if byte < 0x20 { return nil }
                unescaped.append(byte)
            }
        }
        return nil
    }

    /// The scalar of `\uXXXX` (the `\u` read), or of a surrogate pair `\uD8xx\uDCxx`.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let unit = hex4() else { return nil }
        switch unit {
        case 0xD800...0xDBFF:
            guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hex4(), (0xDC00...0xDFFF).contains(low) else {
                return nil
            }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(unit)
        }
    }

    private mutating func hex4() -> UInt32? {
        guard bytes.count - at >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = HexDigit.value(bytes[at]) else { return nil }
            value = value << 4 | UInt32(digit)
            at += 1
        }
        return value
    }
}
