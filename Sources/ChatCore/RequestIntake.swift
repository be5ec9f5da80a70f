/// What a connection does with each request (text message) it receives, as decisions without
/// I/O: the article's order — every frame costs quota as it arrives, a message's continuation
/// frames included — then an answer now, or in order behind the requests still waiting (for
/// the socket to drain, or for a store read).
///
/// Per frame, not per message: a message may come in up to `limits.max_fragments` frames, each
/// a decode for chatd, and a flood of fragments once cost one strike per 128 frames — never
/// closed, while its loop's other connections waited (a review of issue 14).
///
/// Quota is taken on arrival, not when a waiting request's turn comes: a client that floods
/// while its requests wait (its join still reading the room from the store, its socket
/// behind) is refused and cut off as fast as one whose requests are answered at once. Taken
/// later, a flood of tiny frames piled up unrefused for as long as the wait lasted, and its
/// event loop decoded them all — up to 16 reads of 64 KiB in one pass, 0.8 s in a debug
/// build — while the other connections on that loop waited (CI, issue 14).
public struct RequestIntake<Request> {
    /// What waiting requests may cost before the connection is closed (`tooMuchWaiting`).
    public var bound: Int
    /// Refused requests in a row, since one was admitted, before the connection is closed.
    public var strikesAllowed: Int

    private var waiting: [Waiting] = []
    private var head = 0
    /// What the waiting requests cost: their bytes plus `overhead` each.
    public private(set) var waitingCost = 0
    public private(set) var strikes = 0
    /// A frame of the message being received was refused: the whole message is.
    private var messageRefused = false

    /// What a waiting request costs besides its bytes: a one-byte frame must count for more
    /// than one byte, or a bound in bytes would let hundreds of thousands of them wait.
    public static var overhead: Int { 64 }

    public enum Waiting {
        case request(Request)
        /// Refused by the rate limit; its `rate_limited` answer keeps its place in the order.
        case refused
    }

    public enum Action {
        /// Answer this request now (parse it, carry it out).
        case handle(Request)
        /// Answer with the `rate_limited` error now.
        case refuseRateLimited
        /// Nothing to do now: the request waits for its turn.
        case wait
        /// Close the connection (1008): what waits for it passed `bound`.
        case tooMuchWaiting
    }

    public init(bound: Int, strikesAllowed: Int) {
        self.bound = bound
        self.strikesAllowed = strikesAllowed
    }

    public var hasWaiting: Bool { head < waiting.count }
    public var waitingCount: Int { waiting.count - head }

    /// A data frame arrived (a message's first, a continuation, or its last); `admitted` is
    /// the rate limit's verdict for it, taken now. False when the connection must be closed
    /// (1008): it keeps sending far past its rate limit.
    public mutating func frame(admitted: Bool) -> Bool {
        if admitted {
            strikes = 0
            return true
        }
        messageRefused = true
        strikes += 1
        return strikes <= strikesAllowed
    }

    /// A whole message arrived (its frames went through `frame`). `answerable` says whether
    /// the connection could answer at once if nothing were waiting.
    public mutating func received(_ request: Request, bytes: Int, answerable: Bool) -> Action {
        let admitted = !messageRefused
        messageRefused = false
        let item: Waiting = admitted ? .request(request) : .refused
        if answerable && !hasWaiting { return Self.action(for: item) }
        let cost = admitted ? max(bytes, 0).saturatingAdd(Self.overhead) : Self.overhead
        waitingCost = waitingCost.saturatingAdd(cost)
        waiting.append(item)
        return waitingCost > bound ? .tooMuchWaiting : .wait
    }

    /// The next waiting request, in order, once the connection can answer; nil when none waits.
    public mutating func next(bytes: (Request) -> Int) -> Action? {
        guard hasWaiting else { return nil }
        let item = waiting[head]
        head += 1
        switch item {
        case let .request(request): waitingCost -= max(bytes(request), 0).saturatingAdd(Self.overhead)
        case .refused: waitingCost -= Self.overhead
        }
        if head == waiting.count {
            waiting.removeAll(keepingCapacity: false)
            head = 0
            waitingCost = 0
        }
        return Self.action(for: item)
    }

    private static func action(for item: Waiting) -> Action {
        switch item {
        case let .request(request): .handle(request)
        case .refused: .refuseRateLimited
        }
    }

}

extension RequestIntake: Sendable where Request: Sendable {}
extension RequestIntake.Waiting: Sendable where Request: Sendable {}
extension RequestIntake.Action: Sendable where Request: Sendable {}
extension RequestIntake.Action: Equatable where Request: Equatable {}
