/// In-order delivery of a room's messages when the store numbers them (several nodes), as
/// decisions without I/O. Notifications of commits arrive in any order and may be cut short
/// (too big for NOTIFY) or lost (a listener reconnecting); each message must still reach this
/// node's members once, in sequence order. The hub keeps `delivered` per room and carries
/// out the reads this asks for.
public struct InOrderDelivery: Sendable, Equatable {
    /// Rows asked of the store per read of a gap.
    public static let page = 1000

    /// The last number delivered here.
    public private(set) var delivered: UInt64
    /// False until the first notification of a room whose last number could not be read when
    /// it was loaded (the database was down): that notification sets where delivery starts.
    public private(set) var synced: Bool

    public init(delivered: UInt64, synced: Bool = true) {
        self.delivered = delivered
        self.synced = synced
    }

    /// What to do about a notification of messages up to `through`.
    public enum Step: Sendable, Equatable {
        /// Deliver these, in this order; `delivered` has advanced.
        case deliver([ChatMessage])
        /// Numbers are missing: read the store (`Gap`), then `finish` with what was read.
        case read(Gap)
    }

    /// A notification: `messages` as it carried them (none when they did not fit), the batch
    /// ending at `through`.
    public mutating func notified(_ messages: [ChatMessage], through: UInt64) -> Step {
        if !synced {
            // Not the whole table since 0 as if it were news: from here on.
            synced = true
            let fresh = messages.sorted { $0.seq < $1.seq }.filter { $0.seq > delivered }
            let out = Self.increasing(fresh, after: delivered)
            delivered = max(out.last?.seq ?? delivered, through)
            return .deliver(out)
        }
        guard through > delivered else { return .deliver([]) }
        let ready = messages.filter { $0.seq > delivered }.sorted { $0.seq < $1.seq }
        let complete =
            ready.first?.seq == delivered + 1 && ready.last?.seq == through
            && zip(ready, ready.dropFirst()).allSatisfy { $1.seq == $0.seq + 1 }
        if complete {
            delivered = through
            return .deliver(ready)
        }
        return .read(Gap(after: delivered, through: through))
    }

    /// After a gap's reads: delivers what was read past `delivered`. When every page was read,
    /// numbers with no row (deleted before they reached this node) are passed over; when a
    /// read failed, delivery stops at what was read and the next notification (or a resync)
    /// tries again.
    public mutating func finish(_ gap: Gap) -> [ChatMessage] {
        let out = Self.increasing(gap.rows, after: delivered)
        delivered = max(delivered, out.last?.seq ?? delivered)
        if gap.isComplete { delivered = max(delivered, gap.through) }
        return out
    }

    /// Messages after `after` in increasing order, each number once.
    private static func increasing(_ messages: [ChatMessage], after: UInt64) -> [ChatMessage] {
        var last = after
        var out: [ChatMessage] = []
        for message in messages where message.seq > last {
            out.append(message)
            last = message.seq
        }
        return out
    }

    /// The reads of one gap, page by page: `next` says what to read, `add` takes the rows.
    public struct Gap: Sendable, Equatable {
        public let through: UInt64
        public private(set) var rows: [ChatMessage] = []
        /// Where the next page starts (after this number), nil when all is read or a read failed.
        public private(set) var next: UInt64?
        /// Every page up to `through` was read.
        public private(set) var isComplete = false

        init(after: UInt64, through: UInt64) {
            self.through = through
            next = after
        }

        /// A page read after `next` (at most `InOrderDelivery.page` rows), nil when it failed.
        public mutating func add(_ page: [ChatMessage]?) {
            guard let page else {
                next = nil
                return
            }
            let inRange = page.filter { $0.seq <= through }
            rows += inRange
            if page.count == InOrderDelivery.page, inRange.count == page.count, let last = page.last, last.seq < through {
                next = last.seq
            } else {
                next = nil
                isComplete = true
            }
        }
    }
}
