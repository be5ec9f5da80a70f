import NIOCore

/// What one TCP connection's handlers share before and during the upgrade: the client's
/// address, a refusal decided by the upgrader (for the HTTP handler to answer with), and
/// the handshake timer. Touched only on the connection's event loop.
final class ConnectionState: @unchecked Sendable {
    var address = "?"
    var refusal: ClientLimits.Refusal?
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
