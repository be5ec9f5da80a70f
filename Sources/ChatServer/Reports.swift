public import ChatCluster

// What chatd reports about itself, as the server's own types. The control socket turns them
// into its wire types (`ControlMapping.swift`); nothing else here knows the control protocol.

/// A running chatd at one moment.
public struct ServerStatus: Sendable, Equatable {
    public var version: String
    public var pid: Int32
    public var uptimeSeconds: Double
    public var configPath: String?
    public var configGeneration: Int
    /// Open WebSocket connections.
    public var connections: Int
    /// Rooms with members.
    public var rooms: Int
    public var messagesIn: Int
    public var messagesOut: Int
    public var ready: Bool
    public var lastReload: ReloadOutcome?
    /// Present when chatd runs as a node of a cluster.
    public var cluster: ClusterStatus?
}

/// One open WebSocket connection.
public struct ConnectionSummary: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The identity the connection acts as (`credential:alice`, `jwt:ISS:SUB`,
    /// `token:HASH:name`): what `mute`, `unmute` and `kick --user` take; nil on the echo endpoint.
    public var user: String?
    /// The rooms it is in, comma-separated.
    public var room: String
    public var address: String
    public var connectedSeconds: Double
}

/// A room with members or history.
public struct RoomSummary: Sendable, Equatable {
    public var name: String
    /// Members on every node, as last heard.
    public var members: Int
    public var lastSeq: UInt64

    public init(name: String, members: Int, lastSeq: UInt64) {
        self.name = name
        self.members = members
        self.lastSeq = lastSeq
    }
}

/// What a reload did.
public struct ReloadOutcome: Sendable, Equatable {
    public var ok: Bool
    /// When it happened, seconds since 1970.
    public var at: Double
    /// The configuration generation in force afterwards.
    public var generation: Int
    /// Why it failed (the config error), when it did.
    public var error: String?
    /// Keys whose new values are in force.
    public var applied: [String]
    /// Keys that changed but need a restart to take effect (listen addresses, sockets).
    public var needsRestart: [String]
    /// Connections closed because their credential is no longer valid.
    public var revoked: Int
}

/// Why an operator's request was not carried out.
public enum OperationFailure: Error, Sendable, Equatable {
    /// Nothing matches (a message, a user).
    case notFound(String)
    /// It could not be done (no store, the store failed).
    case failed(String)
}
