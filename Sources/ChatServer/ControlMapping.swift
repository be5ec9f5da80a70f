import ChatCluster
import ChatControl

// The server's reports as the control protocol's wire types: the one place where the two meet.

extension StatusInfo {
    init(_ s: ServerStatus) {
        self.init(
            version: s.version, pid: s.pid, uptimeSeconds: s.uptimeSeconds, configPath: s.configPath,
            configGeneration: s.configGeneration, connections: s.connections, rooms: s.rooms, messagesIn: s.messagesIn,
            messagesOut: s.messagesOut, ready: s.ready, lastReload: s.lastReload.map(ReloadResult.init),
            cluster: s.cluster.map(ClusterInfo.init))
    }
}

extension ClusterInfo {
    init(_ c: ClusterStatus) {
        self.init(
            node: c.node, database: c.database, databaseConnected: c.databaseConnected, listening: c.listening,
            lagSeconds: c.lagSeconds, reconnects: c.reconnects, peers: c.peers)
    }
}

extension ConnectionInfo {
    init(_ c: ConnectionSummary) {
        self.init(id: c.id, name: c.name, user: c.user, room: c.room, address: c.address, connectedSeconds: c.connectedSeconds)
    }
}

extension RoomInfo {
    init(_ r: RoomSummary) {
        self.init(name: r.name, online: r.members, lastSeq: r.lastSeq)
    }
}

extension ReloadResult {
    init(_ r: ReloadOutcome) {
        self.init(
            ok: r.ok, at: r.at, generation: r.generation, error: r.error, applied: r.applied,
            needsRestart: r.needsRestart, revoked: r.revoked)
    }
}

extension ControlError {
    init(_ failure: OperationFailure) {
        switch failure {
        case let .notFound(message): self.init(code: "not_found", message: message)
        case let .failed(message): self.init(code: "failed", message: message)
        }
    }
}
