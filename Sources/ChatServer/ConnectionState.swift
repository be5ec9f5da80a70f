import ChatCore
import NIOCore

/// What one TCP connection's handlers share before and during the upgrade: the client's
/// address, the session or refusal decided by the upgrader (the HTTP handler answers refusals), and
/// the handshake timer. Touched only on the connection's event loop.
final class ConnectionState: @unchecked Sendable {
    var address = "?"
    var refusal: ClientLimits.Refusal?
    /// The admitted session, from the upgrader's check to the pipeline it builds.
    var session: UpgradeGate.Session?
    /// A credential or room refusal decided by the upgrader (after the gate's own checks).
    var rejection: (status: Int, reason: String)?
    var handshakeTimer: Scheduled<Void>?

    /// Closes the connection unless it became a WebSocket within `timeout` (slowloris, idle
    /// keep-alive connections).
    func armHandshakeTimer(channel: any Channel, timeout: TimeAmount) {
        handshakeTimer = channel.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    func upgraded() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
    }
}
