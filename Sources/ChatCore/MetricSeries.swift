/// chatd's own counters sampled every `interval` seconds, the last `capacity` samples in a
/// fixed ring (the admin console's charts). Fixed size: a long uptime costs nothing more.
public struct MetricSeries: Sendable, Equatable {
    public struct Sample: Sendable, Equatable, Codable {
        /// Seconds since 1970.
        public var at: Double
        public var connections: Int
        /// Totals since start: messages taken in, frames sent out.
        public var messagesIn: Int
        public var messagesOut: Int
        /// Per second since the previous sample; nil for the first one.
        public var inPerSecond: Double?
        public var outPerSecond: Double?

        public init(
            at: Double, connections: Int, messagesIn: Int, messagesOut: Int, inPerSecond: Double? = nil, outPerSecond: Double? = nil
        ) {
            self.at = at
            self.connections = connections
            self.messagesIn = messagesIn
            self.messagesOut = messagesOut
            self.inPerSecond = inPerSecond
            self.outPerSecond = outPerSecond
        }
    }

    /// 5 s for 10 minutes.
    public static let defaultInterval = 5.0
    public static let defaultCapacity = 120

    public let interval: Double
    public let capacity: Int
    private var ring: [Sample] = []
    /// Where the next sample goes once the ring is full.
    private var next = 0

    public init(interval: Double = defaultInterval, capacity: Int = defaultCapacity) {
        self.interval = interval
        self.capacity = max(1, capacity)
        ring.reserveCapacity(self.capacity)
    }

    /// Whether a sample is due at `now` (the first one at once).
    public func isDue(now: Double) -> Bool {
        guard let last = latest else { return true }
        // A little early counts: the ticking timer is not exactly `interval` apart.
        return now - last.at >= interval * 0.95
    }

    public var latest: Sample? {
        guard !ring.isEmpty else { return nil }
        return ring[(next + ring.count - 1) % ring.count]
    }

    /// Adds a sample, with its rates against the previous one; the oldest leaves a full ring.
    public mutating func record(at: Double, connections: Int, messagesIn: Int, messagesOut: Int) {
        var sample = Sample(at: at, connections: connections, messagesIn: messagesIn, messagesOut: messagesOut)
        if let last = latest, at > last.at {
            let seconds = at - last.at
            // A counter that went back (it never should) gives no rate rather than a negative one.
            if messagesIn >= last.messagesIn { sample.inPerSecond = Double(messagesIn - last.messagesIn) / seconds }
            if messagesOut >= last.messagesOut { sample.outPerSecond = Double(messagesOut - last.messagesOut) / seconds }
        }
        if ring.count < capacity {
            ring.append(sample)
        } else {
            ring[next] = sample
            next = (next + 1) % capacity
        }
    }

    /// Oldest first.
    public var samples: [Sample] {
        ring.count < capacity ? ring : Array(ring[next...] + ring[..<next])
    }
}
