/// What one connection may owe its client and send past its quota before it is closed, from
/// its settings: computed once per setting (a reload) and per new largest reply, not on
/// every frame.
public struct ConnectionBounds: Sendable, Equatable {
    /// The send buffer's high water mark: over it the socket counts as behind.
    public private(set) var sendBufferHigh: Int
    public private(set) var maxFrameBytes: Int
    /// Refused frames in a row before the connection is closed: twice its burst, at least 40.
    public private(set) var strikesAllowed: Int
    /// The largest reply so far: one resume of `resume_limit` messages may alone be bigger
    /// than four send buffers, and a client reading it must not be closed for an error reply
    /// meanwhile.
    public private(set) var largestReply = 0
    /// The most a connection may owe its client (unsent bytes in the channel plus replies
    /// held back) before it is closed with 1008: four send buffers plus its largest reply.
    /// Requests are only answered while under one send buffer, so what can push past it is
    /// replies that come later (a failed store write, a refused delete); a client that never
    /// reads gets there and is closed instead of growing chatd's memory.
    public private(set) var owed = 0
    /// What requests waiting for their answer may cost (`RequestIntake.bound`): `owed` plus
    /// one frame.
    public private(set) var waiting = 0

    /// Frames a closing connection may still send (messages in flight, its close frame)
    /// before it is closed at once: reading goes on while closing only to see the client's
    /// answer and FIN, and decoding a flood would cost the loop for the rest of the grace.
    public static let framesWhileClosing = 1024

    public init(sendBufferHigh: Int, maxFrameBytes: Int, rateMessages: Int) {
        self.sendBufferHigh = sendBufferHigh
        self.maxFrameBytes = maxFrameBytes
        strikesAllowed = Self.strikesAllowed(rateMessages: rateMessages)
        recompute()
    }

    /// A reload changed the settings; the largest reply so far still counts.
    public mutating func reconfigure(sendBufferHigh: Int, maxFrameBytes: Int, rateMessages: Int) {
        self.sendBufferHigh = sendBufferHigh
        self.maxFrameBytes = maxFrameBytes
        strikesAllowed = Self.strikesAllowed(rateMessages: rateMessages)
        recompute()
    }

    /// A reply of `bytes` was written or queued; true when the bounds grew.
    @discardableResult
    public mutating func replied(bytes: Int) -> Bool {
        guard bytes > largestReply else { return false }
        largestReply = bytes
        recompute()
        return true
    }

    /// True when a connection owing `buffered` bytes in its channel and `heldReplies` in its
    /// queue is to be closed.
    public func exceeded(buffered: Int, heldReplies: Int) -> Bool {
        max(buffered, 0).saturatingAdd(max(heldReplies, 0)) > owed
    }

    public static func strikesAllowed(rateMessages: Int) -> Int {
        max(40, max(rateMessages, 0).saturatingMultiply(2))
    }

    private mutating func recompute() {
        owed = max(sendBufferHigh, 0).saturatingMultiply(4).saturatingAdd(largestReply)
        waiting = owed.saturatingAdd(max(maxFrameBytes, 0))
    }
}
