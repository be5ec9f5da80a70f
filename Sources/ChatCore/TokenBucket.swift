/// A token bucket: `capacity` messages at once, refilled continuously at
/// `capacity / window`. The article's "20 messages per 10 s" becomes capacity 20 and a
/// 10 s window. Time is passed in (monotonic nanoseconds) so that it is tested without clocks.
public struct TokenBucket: Sendable {
    public private(set) var capacity: Double
    public private(set) var refillPerNanosecond: Double
    private var tokens: Double
    private var lastRefill: UInt64

    public init(capacity: Int, windowNanoseconds: UInt64, now: UInt64) {
        self.capacity = Double(capacity)
        self.refillPerNanosecond = Double(capacity) / Double(max(windowNanoseconds, 1))
        self.tokens = Double(capacity)
        self.lastRefill = now
    }

    /// Takes one token; false when the bucket is empty (the caller reports `rate_limited`).
    public mutating func consume(now: UInt64) -> Bool {
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// True when the bucket has refilled completely (nothing would be lost by forgetting it).
    public mutating func isFull(now: UInt64) -> Bool {
        refill(now: now)
        return tokens >= capacity
    }

    /// Applies new limits (a reload) without granting a fresh burst.
    public mutating func reconfigure(capacity: Int, windowNanoseconds: UInt64, now: UInt64) {
        refill(now: now)
        self.capacity = Double(capacity)
        self.refillPerNanosecond = Double(capacity) / Double(max(windowNanoseconds, 1))
        tokens = min(tokens, self.capacity)
    }

    private mutating func refill(now: UInt64) {
        guard now > lastRefill else { return }
        tokens = min(capacity, tokens + Double(now - lastRefill) * refillPerNanosecond)
        lastRefill = now
    }
}
