/// What the client saw from the server, in order.
public enum ClientEvent: Sendable, Equatable {
    case text(String)
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    /// A close frame: its code (nil when empty) and reason.
    case close(code: UInt16?, reason: String)
    /// The TCP connection ended.
    case disconnected
}
