import ChatCore
import NIOCore

/// What one TCP connection's handlers share before and during the upgrade: the client's
/// address, the session or refusal decided by the upgrader for the current request (the HTTP
/// handler answers refusals), the idle timer, and the read gate. Touched only on the
/// connection's event loop.
final class ConnectionState: @unchecked Sendable {
    var address = "?"
    var refusal: ClientLimits.Refusal?
    /// The admitted session, from the upgrader's check to the pipeline it builds.
    var session: UpgradeGate.Session?
    /// permessage-deflate's window for the upgraded session; 0 when not negotiated.
    var deflateWindowBits = 0
    /// A credential or room refusal decided by the upgrader (after the gate's own checks).
    var rejection: (status: Int, reason: String)?
    /// True from a request's end until its answer is written (for an upgrade, from its head
    /// until the upgrade is done or refused): the read gate hands on nothing meanwhile.
    var busy = false
    /// Re-arms the upgrade on a kept-alive connection: set by the pipeline's builder, called
    /// by the HTTP handler before it ends an answer that keeps the connection open.
    var armUpgrade: (() -> Void)?
    /// The connection's read gate, while it has one (it leaves at the upgrade).
    var gate: HTTPReadGate?
    /// The connection's loop's pacer, for pipelined requests.
    var pacer: LoopPacer?
    /// True once a request of the read gate's current slice was answered: the others of it
    /// are pipelined, and go through the pacer.
    var answeredThisSlice = false
    private var idleTimer: Scheduled<Void>?
    private var idleTimeout: TimeAmount = .seconds(10)

    /// Forgets the previous request's upgrade decision: each request of a kept-alive
    /// connection is decided on its own.
    func newRequest() {
        refusal = nil
        session = nil
        rejection = nil
    }

    /// Closes the connection unless a complete request arrives within `timeout` (slowloris),
    /// counted from the accept and again from the end of each answer (idle keep-alive).
    func armIdleTimer(channel: any Channel, timeout: TimeAmount) {
        idleTimeout = timeout
        idleTimer?.cancel()
        idleTimer = channel.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    /// Re-arms the timer with the timeout it was first armed with.
    func rearmIdleTimer(channel: any Channel) {
        armIdleTimer(channel: channel, timeout: idleTimeout)
    }

    /// A complete request is being answered: the clock stops until the answer is written.
    func stopIdleTimer() {
        idleTimer?.cancel()
        idleTimer = nil
    }

    /// The connection upgraded: no idle clock any more (the heartbeat takes over), and
    /// nothing of the HTTP stage kept. (`armUpgrade` holds the upgrader and the HTTP handlers
    /// NIO removed; this state lives as long as the connection, and they cost ~1 KiB each.)
    func upgraded() {
        stopIdleTimer()
        armUpgrade = nil
        gate = nil
        pacer = nil
        session = nil
    }

    /// The connection closed: drops what ties the handlers and this state together.
    func release() {
        stopIdleTimer()
        armUpgrade = nil
        gate = nil
    }
}

/// What the close of a chat connection has left to undo: its count among `ClientLimits`'
/// pending connections (ended once: by the upgrade, or by the close if it never upgrades)
/// and, until the upgrade, the handshake's state (`ConnectionState.release` breaks its
/// cycles). The close's callback holds this, not the state, so the state goes with the HTTP
/// stage at the upgrade (it had stayed for the connection's life: 330 bytes per idle
/// connection, BENCHMARKS.md).
final class ConnectionEnd: @unchecked Sendable {  // touched only on the connection's loop
    private var peer: String?
    private let limits: ClientLimits
    private var handshake: ConnectionState?

    init(peer: String, limits: ClientLimits, handshake: ConnectionState) {
        self.peer = peer
        self.limits = limits
        self.handshake = handshake
    }

    /// The upgrade is done: its handshake state is let go (and the connection is no longer
    /// pending, if `endPending` was not called already).
    func upgraded() {
        endPending()
        handshake = nil
    }

    func closed() {
        endPending()
        handshake?.release()
        handshake = nil
    }

    /// No longer pending (upgrading, or closed); counted once.
    func endPending() {
        guard let peer else { return }
        self.peer = nil
        limits.pendingEnded(peer: peer)
    }
}
