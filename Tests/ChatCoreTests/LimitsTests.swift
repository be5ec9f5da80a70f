import Testing
@testable import ChatCore

@Suite struct TokenBucketTests {
    let second: UInt64 = 1_000_000_000

    @Test func allowsTheBurstThenRefusesThenRefills() {
        var bucket = TokenBucket(capacity: 20, windowNanoseconds: 10 * second, now: 0)
        for _ in 0..<20 { do { let ok = bucket.consume(now: 0); #expect(ok) } }
        do { let ok = bucket.consume(now: 0); #expect(!ok) }
        // 20 per 10 s refills one token every 0.5 s.
        do { let ok = bucket.consume(now: second / 4); #expect(!ok) }
        do { let ok = bucket.consume(now: second / 2); #expect(ok) }
        do { let ok = bucket.consume(now: second / 2); #expect(!ok) }
        // A long pause refills to capacity, never beyond.
        let later = 100 * second
        for _ in 0..<20 { do { let ok = bucket.consume(now: later); #expect(ok) } }
        do { let ok = bucket.consume(now: later); #expect(!ok) }
    }

    @Test func reconfigureDoesNotGrantAFreshBurst() {
        var bucket = TokenBucket(capacity: 5, windowNanoseconds: second, now: 0)
        for _ in 0..<5 { _ = bucket.consume(now: 0) }
        bucket.reconfigure(capacity: 50, windowNanoseconds: 10 * second, now: 0)
        do { let ok = bucket.consume(now: 0); #expect(!ok) }
    }
}

@Suite struct HistoryWindowTests {
    func message(_ n: Int) -> ChatMessage {
        ChatMessage(id: "\(n)", seq: UInt64(n), room: "r", from: "f", text: "t\(n)", sentAt: "")
    }

    @Test func keepsTheLastNInOrder() {
        var window = HistoryWindow(limit: 3)
        for n in 1...7 { window.append(message(n)) }
        #expect(window.messages.map(\.seq) == [5, 6, 7])
    }

    @Test func zeroKeepsNothing() {
        var window = HistoryWindow(limit: 0)
        window.append(message(1))
        #expect(window.messages.isEmpty)
    }

    @Test func resizeKeepsTheNewest() {
        var window = HistoryWindow(limit: 5)
        for n in 1...5 { window.append(message(n)) }
        window.resize(to: 2)
        #expect(window.messages.map(\.seq) == [4, 5])
        window.append(message(6))
        #expect(window.messages.map(\.seq) == [5, 6])
    }
}

@Suite struct ClientCommandTests {
    func decode(_ s: String, max: Int = 500) -> Result<ClientCommand, ErrorCode> {
        ClientCommand.decode(Array(s.utf8), maxChars: max)
    }

    @Test func message() {
        #expect(decode(#"{"type":"message","text":"  hi  "}"#) == .success(.message(text: "hi")))
    }

    @Test(arguments: [
        ("not json", ErrorCode.badJSON), ("{", .badJSON), ("", .badJSON),
        ("null", .badType), ("42", .badType), ("[]", .badType), (#"{"text":"x"}"#, .badType),
        (#"{"type":"shout","text":"x"}"#, .badType), (#"{"type":7}"#, .badType),
        (#"{"type":"message"}"#, .empty), (#"{"type":"message","text":"   "}"#, .empty),
        (#"{"type":"message","text":null}"#, .empty), (#"{"type":"message","text":5}"#, .badField),
        (#"{"type":"message","text":{"a":1}}"#, .badField),
    ])
    func errors(input: String, code: ErrorCode) {
        #expect(decode(input) == .failure(code))
    }

    @Test func lengthCountsUTF16UnitsLikeTheBrowser() {
        #expect(decode(#"{"type":"message","text":"\#(String(repeating: "字", count: 500))"}"#) == .success(.message(text: String(repeating: "字", count: 500))))
        #expect(decode(#"{"type":"message","text":"\#(String(repeating: "a", count: 501))"}"#) == .failure(.tooLarge))
        // An emoji is two UTF-16 units, as in JavaScript.
        #expect(decode(#"{"type":"message","text":"\#(String(repeating: "😀", count: 251))"}"#) == .failure(.tooLarge))
    }

    @Test func ping() {
        #expect(decode(#"{"type":"ping"}"#) == .success(.ping))
    }
}
