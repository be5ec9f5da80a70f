public import ChatCore
public import Foundation

/// The control socket's protocol: one JSON object per line each way, request then
/// response. `v` is the protocol version; a daemon answers a version it does not speak
/// with the error `unsupported_version`, so chatctl and chatd of different releases fail
/// clearly instead of misreading each other.
public enum ControlProtocol {
    public static let version = 1
    public static let defaultSocketPath = "/run/chatd/control.sock"
    /// The longest request line the daemon reads.
    public static let maxLineBytes = 64 * 1024
}

public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable {
        case status, connections, rooms, kick, reload
        case delete, mute, unmute, audit, publish
        case purgeUser = "purge-user"
        case webhooks
        case webhooksRetry = "webhooks-retry"
        case ban, unban, mutes, bans
        case versions
    }

    public var v: Int
    public var command: Command
    /// `connections`: only this room.
    public var room: String?
    /// `kick`: one connection by id…
    public var connection: String?
    /// …or every connection of this name.
    public var user: String?
    /// `kick`: the close reason the client sees; moderation: the reason for the audit log.
    public var reason: String?
    /// `delete`, `versions`: the message's sequence number in `room`.
    public var seq: UInt64?
    /// `mute`, `ban`: how long; nil until `unmute`, `unban`.
    public var seconds: Double?
    /// `audit`: entries at or after this time (seconds since 1970).
    public var since: Double?
    /// `publish`: the event's text…
    public var text: String?
    /// …and/or its JSON payload, as JSON text.
    public var data: String?
    /// `webhooks-retry`: the hook whose failed events are tried again.
    public var hook: String?

    public init(
        command: Command, room: String? = nil, connection: String? = nil, user: String? = nil, reason: String? = nil,
        seq: UInt64? = nil, seconds: Double? = nil, since: Double? = nil, text: String? = nil, data: String? = nil,
        hook: String? = nil
    ) {
        self.v = ControlProtocol.version
        self.hook = hook
        self.text = text
        self.data = data
        self.seq = seq
        self.seconds = seconds
        self.since = since
        self.command = command
        self.room = room
        self.connection = connection
        self.user = user
        self.reason = reason
    }
}

public struct ControlResponse: Codable, Sendable, Equatable {
    public var v: Int = ControlProtocol.version
    public var ok: Bool
    public var error: ControlError?
    public var status: StatusInfo?
    public var connections: [ConnectionInfo]?
    public var rooms: [RoomInfo]?
    public var kicked: Int?
    /// `kick --user` in a cluster: the other nodes were asked too (their counts are not known).
    public var kickedElsewhere: Bool?
    public var reload: ReloadResult?
    /// `purge-user`: messages erased; `delete`: 1.
    public var deleted: Int?
    /// `publish`: the event's sequence number in its room.
    public var published: UInt64?
    public var audit: [AuditEntry]?
    /// `mute`: the identity key applied (a bare name completed to `credential:NAME`), and how
    /// many connections on this node answer to it now.
    public var muted: String?
    public var matched: Int?
    /// `ban`: the identity key applied; `kicked` counts the connections of this node closed.
    public var banned: String?
    /// `mutes`, `bans`: those in force, every node's, with who set them and why.
    public var restrictions: [Restriction]?
    /// `webhooks`: every hook configured or with events in the outbox.
    public var webhooks: [WebhookInfo]?
    /// `webhooks-retry`: how many failed events are pending again.
    public var retried: Int?
    /// `versions`: the texts a message had before each of its edits, oldest first.
    public var versions: [MessageVersion]?

    public init(ok: Bool = true, error: ControlError? = nil) {
        self.ok = ok
        self.error = error
    }

    public static func failure(_ code: String, _ message: String) -> ControlResponse {
        ControlResponse(ok: false, error: ControlError(code: code, message: message))
    }
}

/// One webhook's state: the outbox's counts (every node's) and this node's last outcomes.
public struct WebhookInfo: Codable, Sendable, Equatable {
    public var name: String
    /// False for a hook removed from the config whose events are still in the outbox.
    public var configured: Bool
    public var url: String?
    public var pending: Int
    public var failed: Int
    public var oldestPendingAt: Double?
    public var lastSuccessAt: Double?
    public var lastFailureAt: Double?
    public var lastError: String?

    public init(
        name: String, configured: Bool, url: String?, pending: Int, failed: Int, oldestPendingAt: Double?, lastSuccessAt: Double?,
        lastFailureAt: Double?, lastError: String?
    ) {
        self.name = name
        self.configured = configured
        self.url = url
        self.pending = pending
        self.failed = failed
        self.oldestPendingAt = oldestPendingAt
        self.lastSuccessAt = lastSuccessAt
        self.lastFailureAt = lastFailureAt
        self.lastError = lastError
    }
}

public struct ControlError: Codable, Sendable, Equatable, Error {
    /// Stable: `bad_request`, `unsupported_version`, `unknown_command`, `permission_denied`,
    /// `not_found`, `reload_failed`, `forbidden`, `unavailable`, `not_stored` (a mute or ban
    /// that holds on every node but was not written to the store: it ends with a restart).
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

public struct StatusInfo: Codable, Sendable, Equatable {
    public var version: String
    public var pid: Int32
    public var uptimeSeconds: Double
    public var configPath: String?
    public var configGeneration: Int
    public var connections: Int
    public var rooms: Int
    public var messagesIn: Int
    public var messagesOut: Int
    public var ready: Bool
    public var lastReload: ReloadResult?
    /// Present when chatd runs as a node of a cluster.
    public var cluster: ClusterInfo?

    public init(
        version: String, pid: Int32, uptimeSeconds: Double, configPath: String?, configGeneration: Int,
        connections: Int, rooms: Int, messagesIn: Int, messagesOut: Int, ready: Bool, lastReload: ReloadResult?,
        cluster: ClusterInfo? = nil
    ) {
        self.cluster = cluster
        self.version = version
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.configPath = configPath
        self.configGeneration = configGeneration
        self.connections = connections
        self.rooms = rooms
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
        self.ready = ready
        self.lastReload = lastReload
    }
}

/// A cluster node's view: its id, its database connection and its listener.
public struct ClusterInfo: Codable, Sendable, Equatable {
    public var node: String
    /// The database URL without its password.
    public var database: String
    public var databaseConnected: Bool
    /// The LISTEN connection is up.
    public var listening: Bool
    /// Seconds this node's last heartbeat took to come back through its listener.
    public var lagSeconds: Double?
    public var reconnects: Int
    /// Other nodes heard from within the node timeout.
    public var peers: [String]

    public init(
        node: String, database: String, databaseConnected: Bool, listening: Bool, lagSeconds: Double?,
        reconnects: Int, peers: [String]
    ) {
        self.node = node
        self.database = database
        self.databaseConnected = databaseConnected
        self.listening = listening
        self.lagSeconds = lagSeconds
        self.reconnects = reconnects
        self.peers = peers
    }
}

public struct ConnectionInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// The identity the connection acts as (`credential:alice`, `jwt:ISS:SUB`,
    /// `token:HASH:name`): what `mute`, `unmute` and `kick --user` take.
    public var user: String?
    public var room: String
    public var address: String
    public var connectedSeconds: Double

    public init(id: String, name: String, user: String? = nil, room: String, address: String, connectedSeconds: Double) {
        self.id = id
        self.name = name
        self.user = user
        self.room = room
        self.address = address
        self.connectedSeconds = connectedSeconds
    }
}

public struct RoomInfo: Codable, Sendable, Equatable {
    public var name: String
    public var online: Int
    public var lastSeq: UInt64

    public init(name: String, online: Int, lastSeq: UInt64) {
        self.name = name
        self.online = online
        self.lastSeq = lastSeq
    }
}

public struct ReloadResult: Codable, Sendable, Equatable {
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

    public init(ok: Bool, at: Double, generation: Int, error: String?, applied: [String], needsRestart: [String], revoked: Int) {
        self.ok = ok
        self.at = at
        self.generation = generation
        self.error = error
        self.applied = applied
        self.needsRestart = needsRestart
        self.revoked = revoked
    }
}

/// Line framing shared by both ends: compact JSON plus "\n".
public enum ControlCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        return data
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: Data) throws -> T {
        try JSONDecoder().decode(type, from: line)
    }
}
