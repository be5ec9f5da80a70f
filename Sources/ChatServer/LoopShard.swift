import ChatCore
import NIOCore

/// The members of each room that live on one event loop. Touched only on that loop, so it
/// needs no lock; the hub reaches it with one task per broadcast.
final class LoopShard {
    private var rooms: [String: [ChatSession]] = [:]
    /// Every session on this loop, members or not (echo sessions), for shutdown.
    private var sessions: [ObjectIdentifier: ChatSession] = [:]

    func register(_ session: ChatSession) { sessions[ObjectIdentifier(session)] = session }
    func unregister(_ session: ChatSession) { sessions[ObjectIdentifier(session)] = nil }

    /// Closes every session on this loop with `code`.
    func closeAll(code: ChatCore.CloseCode, reason: String) {
        for session in sessions.values { session.close(code: code, reason: reason) }
    }

    func add(_ session: ChatSession) {
        var members = rooms[session.room, default: []]
        session.slot = members.count
        members.append(session)
        rooms[session.room] = members
    }

    func remove(_ session: ChatSession) {
        guard session.slot >= 0, var members = rooms[session.room], session.slot < members.count,
              members[session.slot] === session
        else { return }
        let slot = session.slot
        members.swapAt(slot, members.count - 1)
        members.removeLast()
        if slot < members.count { members[slot].slot = slot }
        session.slot = -1
        rooms[session.room] = members.isEmpty ? nil : members
    }

    /// Writes one pre-encoded frame to every local member that joined before `epoch`.
    func deliver(room: String, epoch: UInt64, frame: ByteBuffer) {
        guard let members = rooms[room] else { return }
        for member in members where member.joinEpoch < epoch {
            member.deliver(frame)
        }
    }
}
