import Foundation
import Testing

@testable import ChatCore

@Suite struct RequestObjectTests {
    /// Every key these tests read.
    static let keys = ["a", "b", "c", "d", "s", "kA", "dup", "n", "f", "e", "neg", "t", "z", "o", "type", "room", "text", "seq", "é", ""]

    private func parse(_ text: String) -> Result<RequestObject, RequestObject.Failure> {
        RequestObject.parse(Array(text.utf8), keeping: Self.keys)
    }

    @Test(
        arguments: [
            "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,,}", "{,}", "[,]", "[1,,]", "{\"a\":1 \"b\":2}", "{'a':1}", "{a:1}",
            "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":1e+}",
            "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"tab\there\"}",
            "{\"a\":[1 2]}", "{\"a\":{\"b\"}}", "{\"a\":1} x", "{} {}", "{\"a\":1}/*c*/", " \u{FEFF}{}",
            "\u{FEFF}\u{FEFF}{}", "{\"a\":\"unterminated}", "{\"a\":1e309}", "{\"a\":-1e309}",
        ])
    func notJSON(text: String) {
        #expect(parse(text) == .failure(.notJSON), "\(text)")
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) == nil, "Foundation took \(text)")
    }

    @Test func invalidUTF8IsNotJSON() {
        for bytes: [UInt8] in [[0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D], [0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D]] {
            #expect(RequestObject.parse(bytes, keeping: Self.keys) == .failure(.notJSON))
        }
    }

    /// Where Foundation was laxer than RFC 8259, clients may have relied on it.
    @Test(arguments: ["\u{FEFF}{\"a\":1}", "{\"a\":1,}", "{\"a\":1 , }", "{\"a\":[1,],}", "{\"a\":{\"b\":[],\n},}"])
    func whatFoundationTookIsTaken(text: String) throws {
        #expect(try parse(text).get()["a"] != nil)
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
    }

    @Test(arguments: ["null", "true", "42", "-0.5e3", "\"x\"", "[]", "[{\"a\":[1,{}]}]", " [ ] "])
    func otherValuesAreJSONButNotObjects(text: String) {
        #expect(parse(text) == .failure(.notObject))
    }

    @Test func membersAreKeptWithTheirTypes() throws {
        let object = try parse(
            #" { "type" : "message", "n": 12, "f": 1.5, "e": 2e3, "neg": -3, "t": true, "z": null, "a": [1, {"x": [ ]}], "o": {} } "#
        ).get()
        #expect(object["type"] == .string("message"))
        #expect(object["n"]?.unsigned == 12)
        #expect(object["f"] == .number(1.5, exact: nil) && object["f"]?.unsigned == nil)
        #expect(object["e"]?.unsigned == 2000)
        #expect(object["neg"] == .number(-3, exact: nil) && object["neg"]?.unsigned == nil)
        #expect(object["t"] == .bool(true) && object["t"]?.unsigned == nil)
        #expect(object["z"] == .null)
        #expect(object["a"] == .container && object["o"] == .container)
        #expect(object["missing"] == nil)
    }

    @Test func wholeNumbersAreExactHoweverWritten() throws {
        let cases: [(String, UInt64?)] = [
            ("9007199254740993", 9_007_199_254_740_993), ("18446744073709551615", .max), ("18446744073709551616", nil),
            ("9007199254740993.0", 9_007_199_254_740_993), ("9223372036854775807.00", 9_223_372_036_854_775_807),
            ("2.0", 2), ("0.5e1", 5), ("100e-2", 1), ("2E+3", 2000), ("1e19", 10_000_000_000_000_000_000), ("2e19", nil),
            ("-0", 0), ("-0.0e7", 0), ("0e-999999", 0), ("-1", nil), ("-2.0", nil), ("1.5", nil), ("1.0000000000000001", nil),
            ("1e-400", nil), ("5e-1", nil), ("1e-99999999999", nil), ("0.000e99999999999", 0),
        ]
        // Exponents past any fixed bound, made up for by as many digits (review).
        let long: [(String, UInt64?)] = [
            ("0." + String(repeating: "0", count: 99_999) + "1e100001", 10), ("1" + String(repeating: "0", count: 100_001) + "e-100001", 1),
            ("0." + String(repeating: "0", count: 100_000) + "1e100001", 1),
            ("12" + String(repeating: "0", count: 100_001) + "e-100001", 12),
        ]
        for (literal, expected) in cases + long {
            let object = try parse(#"{"a":\#(literal)}"#).get()
            #expect(object["a"]?.unsigned == expected, "\(literal)")
        }
    }

    /// Every member `ClientCommand` reads is kept: each one's value reaches the command,
    /// where a member missing from `ClientCommand.fields` would be skipped as if absent.
    @Test func everyFieldARequestReadsIsKept() {
        let requests: [(String, String, ClientCommand)] = [
            ("type", #"{"type":"ping"}"#, .ping),
            ("room", #"{"type":"typing","room":"r"}"#, .typing(room: "r")),
            ("text", #"{"type":"message","text":"x"}"#, .message(text: "x", room: nil)),
            ("nonce", #"{"type":"message","text":"x","nonce":"n1"}"#, .message(text: "x", room: nil, nonce: "n1")),
            ("replyTo", #"{"type":"message","text":"x","replyTo":3}"#, .message(text: "x", room: nil, replyTo: 3)),
            ("since", #"{"type":"join","room":"r","since":4}"#, .join(room: "r", since: 4)),
            ("before", #"{"type":"history","before":9}"#, .history(before: 9, limit: 50, room: nil)),
            ("limit", #"{"type":"history","limit":7}"#, .history(before: nil, limit: 7, room: nil)),
            ("token", #"{"type":"refresh","token":"t"}"#, .refresh(token: "t")),
            ("seq", #"{"type":"read","seq":5}"#, .read(seq: 5, room: nil)),
            ("emoji", #"{"type":"react","seq":1,"emoji":"👍"}"#, .react(seq: 1, emoji: "👍", added: true, room: nil)),
        ]
        #expect(Set(requests.map(\.0)) == Set(ClientCommand.fields))
        for (field, request, command) in requests {
            #expect(ClientCommand.decode(Array(request.utf8), maxChars: 50) == .success(command), "\(field)")
        }
    }

    @Test func escapesAreUndoneAsFoundationUndoesThem() throws {
        let text = #"{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00 raw é 中 😀","k\u0041":1,"dup":1,"dup":"last"}"#
        let object = try parse(text).get()
        let foundation = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["s"]?.string == foundation["s"] as? String)
        #expect(object["s"]?.string == "a\"b\\c/d\u{8}\u{C}\n\r\té中😀 raw é 中 😀")
        #expect(object["kA"]?.unsigned == 1)
        #expect(object["dup"] == .string("last"))
    }

    @Test func onlyTheMembersAskedForAreKeptEachOnce() throws {
        var text = "{"
        for index in 0..<50_000 { text += #""other\#(index)":"\#(index)","type":"t\#(index)","# }
        text += #""nested":{"type":"inner"}}"#
        let object = try RequestObject.parse(Array(text.utf8), keeping: ["type", "room"]).get()
        #expect(object.count == 1)
        #expect(object["type"] == .string("t49999"))
        #expect(object["other0"] == nil && object["room"] == nil)
        // What is skipped is still checked.
        #expect(RequestObject.parse(Array(#"{"other":[1,}"#.utf8), keeping: ["type"]) == .failure(.notJSON))
        #expect(RequestObject.parse(Array(#"{"other":"\ud800","type":"x"}"#.utf8), keeping: ["type"]) == .failure(.notJSON))
    }

    @Test func aByteOrderMarkInsideAStringIsKept() throws {
        // Foundation dropped one that began a string, so "\u{FEFF}lobby" was the room lobby.
        let object = try parse("{\"room\":\"\u{FEFF}lobby\"}").get()
        #expect(object["room"]?.string?.unicodeScalars.first == "\u{FEFF}")
    }

    @Test func nestingIsTakenToTheLimitAndNoDeeper() {
        let limit = RequestObject.maxDepth
        func nested(_ depth: Int) -> String {
            "{\"a\":" + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
        }
        #expect((try? parse(nested(limit)).get()) != nil)
        #expect(parse(nested(limit + 1)) == .failure(.notJSON))
        // Far deeper than any stack would take by recursion: refused, not crashed.
        #expect(parse(String(repeating: "[", count: 1_000_000)) == .failure(.notJSON))
        #expect(parse("{\"a\":" + String(repeating: "{\"b\":", count: 100_000)) == .failure(.notJSON))
    }

    /// Random JSON texts, half of them then broken at a random place: whether each is JSON at
    /// all must be what Foundation says, and an object's string and number members must read
    /// the same.
    @Test func agreesWithFoundationOnRandomTexts() {
        var random = SplitMix(seed: 15)
        var disagreements: [String] = []
        var (taken, members) = (0, 0)
        for _ in 0..<20_000 {
            var text = random.next() % 4 == 0 ? random.value(depth: 0) : random.object(depth: 0)
            if random.next() % 2 == 0 {
                var scalars = Array(text.unicodeScalars)
                let place = Int(random.next() % UInt64(scalars.count + 1))
                if random.next() % 2 == 0, place < scalars.count {
                    scalars.remove(at: place)
                } else {
                    scalars.insert(contentsOf: random.pick(SplitMix.breakers).unicodeScalars, at: place)
                }
                text = String(String.UnicodeScalarView(scalars))
            }
            let ours = parse(text)
            let theirs = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            let weTookIt = if case .failure(.notJSON) = ours { false } else { true }
            // Foundation converts a number only when its value is kept: an out-of-range one
            // under a key given again later passed there. Here it is refused wherever it is.
            let foundationQuirk = !weTookIt && theirs != nil && text.contains(/[eE]\+?0*([3-9]\d{2}|[1-9]\d{3,})/)
            if weTookIt != (theirs != nil) && !foundationQuirk { disagreements.append(text) }
            if weTookIt { taken += 1 }
            if case let .success(object) = ours, let dictionary = theirs as? [String: Any] {
                members += dictionary.count
                // Foundation drops a raw U+FEFF that begins a string or follows an escape in
                // one (RFC 8259 keeps it, and so does this reader): its keys can then differ.
                if text.unicodeScalars.dropFirst().contains("\u{FEFF}") { continue }
                for (key, value) in dictionary where Self.keys.contains(key) {
                    if let string = value as? String, object[key]?.string != string { disagreements.append(text) }
                    // Foundation's decimal conversion can be a few units in the last place off
                    // (`Double(_:)` rounds correctly).
                    if let number = value as? NSNumber, !BackendProxy.isBool(number), case let .number(double, _) = object[key],
                        abs(double - number.doubleValue) > abs(double) * 1e-15
                    {
                        disagreements.append(text)
                    }
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
        // Enough of them were JSON, and objects with members, for the comparison to mean something.
        #expect(taken > 8_000 && members > 8_000, "\(taken) taken, \(members) members")
    }
}

/// A small seeded generator, so that a failing text can be found again.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func pick(_ choices: [String]) -> String { choices[Int(next() % UInt64(choices.count))] }

    static let scalars = [
        "\"a\"", "\"type\"", "\"\"", "\"x\\ny\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"é中😀\"", "\"\\\"\\/\"", "0", "-1", "12",
        "1.5", "2e3", "-0.0e-1", "1E+2", "9007199254740993", "1e400", "1e-400", "true", "false", "null",
    ]
    static let keys = ["\"type\"", "\"room\"", "\"text\"", "\"seq\"", "\"\\u0074ype\"", "\"é\"", "\"\""]
    static let breakers = [
        "{", "}", "[", "]", ":", ",", "\"", "\\", "\t", "01", "1.", ".5", "nul", "\\q", "\\ud800", "\u{FEFF}", "\u{1}", "/", "+",
    ]

    mutating func space() -> String { pick(["", "", " ", "\n", "\t ", "\r\n"]) }

    mutating func value(depth: Int) -> String {
        switch next() % (depth < 4 ? 6 : 4) {
        case 4: array(depth: depth + 1)
        case 5: object(depth: depth + 1)
        default: pick(Self.scalars)
        }
    }

    mutating func array(depth: Int) -> String {
        let items = (0..<Int(next() % 4)).map { _ in space() + value(depth: depth) + space() }
        let trailing = !items.isEmpty && next() % 8 == 0 ? "," : ""
        return "[" + items.joined(separator: ",") + trailing + "]"
    }

    mutating func object(depth: Int) -> String {
        let members = (0..<Int(next() % 5)).map { _ in space() + pick(Self.keys) + space() + ":" + space() + value(depth: depth) + space() }
        let trailing = !members.isEmpty && next() % 8 == 0 ? "," : ""
        return "{" + members.joined(separator: ",") + trailing + "}"
    }
}
