import ChatCluster
import ChatCore
import ChatStore
import Dispatch

/// The hub's side of a cluster: in-order delivery of messages numbered by the shared
/// store, and members counted on every node.
extension Hub {
    /// Tells the other nodes (nothing without a cluster).
    func tellCluster(_ event: ClusterEvent) {
        cluster.withLockedValue { $0 }?.send(event)
    }

    /// Members on this node per room, for its heartbeat.
    func localCounts() -> [String: Int] {
        let all = rooms.withLockedValue { Array($0.values) }
        var counts: [String: Int] = [:]
        for room in all {
            let online = room.lock.withLock { room.state.localMembers }
            if online > 0 { counts[room.name] = online }
        }
        return counts
    }

    /// Delivers a room's messages up to `through` in sequence order, each exactly once,
    /// whatever order this node's commits and other nodes' notifications arrive in: what is
    /// missing is read from the store (the decisions are `InOrderDelivery`'s). Runs on the
    /// store queue, the only place where a shared room's `seq` (the last delivered here)
    /// advances.
    func deliverInOrder(_ room: Room, _ messages: [ChatMessage], through: UInt64) async {
        await deliverInOrderNow(room, messages, through: through)?()
    }

    /// `deliverInOrder`'s common case, nothing missing, done at once; when a gap has to be
    /// read first, what is left to do (read, then deliver) is returned for the store queue
    /// to wait for. Each notification from another node comes this way, and holding the
    /// queue for a task per notification cost a cluster's fan-out ~5 %.
    func deliverInOrderNow(_ room: Room, _ messages: [ChatMessage], through: UInt64) -> (@Sendable () async -> Void)? {
        var sequence = room.lock.withLock { InOrderDelivery(delivered: room.state.seq, synced: room.state.synced) }
        switch sequence.notified(messages, through: through) {
        case let .deliver(ready):
            deliver(room, ready, sequence)
            return nil
        case let .read(gap):
            metrics.clusterGapReads.increment()
            return { [self, sequence] in
                var (sequence, gap) = (sequence, gap)
                while let after = gap.next {
                    gap.add(try? await store?.messages(room: room.name, after: after, limit: InOrderDelivery.page))
                }
                if !gap.isComplete { metrics.errors("cluster_read_failed").increment() }
                deliver(room, sequence.finish(gap), sequence)
            }
        }
    }

    private func deliver(_ room: Room, _ ready: [ChatMessage], _ sequence: InOrderDelivery) {
        room.lock.withLock {
            let fresh = ready.filter { room.state.deliveredInOrder($0) }
            broadcastLocked(room, events: fresh.map { .message($0) })
            room.state.delivered(through: sequence.delivered, synced: sequence.synced)
        }
    }

    /// A client resuming here may have seen, on another node, numbers this node has not
    /// delivered yet (their notification is on its way). Delivers up to the table's last
    /// number first, on the store queue, so that the resume is exact rather than refused.
    func catchUpIfBehind(_ room: Room, since: UInt64) async {
        guard storeNumbersMessages, since > room.lock.withLock({ room.state.seq }),
            let committer = committer.withLockedValue({ $0 })
        else { return }
        await committer.run { [self] in
            guard let last = try? await store?.lastSequence(room: room.name) else { return }
            await deliverInOrder(room, [], through: last)
        }
    }

    /// An event from another node (on the cluster's queue, in arrival order).
    func handleClusterEvent(_ event: ClusterEvent) {
        switch event {
        case let .messages(_, name, through, messages):
            // A room nobody here has used is read from the store when it first is; one being
            // read now is told once it is loaded.
            let held = heldRoom(name) { load in
                load.heard += messages ?? []
                load.heardThrough = max(load.heardThrough, through)
            }
            guard let room = held else { return }
            committer.withLockedValue { $0 }?.inTurn { [self] in deliverInOrderNow(room, messages ?? [], through: through) }
        case let .presence(node, name, online, text):
            let total = changePresence(room: name) { $0[node] = online > 0 ? online : nil }
            showRemote(name, total: total, text: text)
        case let .snapshot(node, counts):
            var changed: [String: Int] = [:]
            remotePresence.withLockedValue { presence in
                let names = Set(presence.filter { $0.value[node] != nil }.keys).union(counts.keys)
                for name in names where presence[name]?[node] != counts[name] {
                    presence[name, default: [:]][node] = counts[name]
                    if presence[name]?.isEmpty == true { presence[name] = nil }
                    changed[name] = presence[name]?.values.reduce(0, +) ?? 0
                }
            }
            for (name, total) in changed { showRemote(name, total: total, text: nil) }
        case let .nodeGone(node):
            var changed: [String: (total: Int, lost: Int)] = [:]
            remotePresence.withLockedValue { presence in
                for (name, nodes) in presence {
                    guard let lost = nodes[node] else { continue }
                    presence[name]?[node] = nil
                    if presence[name]?.isEmpty == true { presence[name] = nil }
                    changed[name] = (presence[name]?.values.reduce(0, +) ?? 0, lost)
                }
            }
            for (name, change) in changed {
                showRemote(name, total: change.total, text: "\(change.lost) left (node \(node) is gone)")
            }
        case let .deleted(_, name, seq, id):
            removeFromWindows([ChatMessage(id: id, seq: seq, room: name, from: "", text: "", sentAt: "")], announce: false)
        case let .expired(_, name, upTo):
            expireFromWindow(room: name, upTo: upTo, announce: false)
        case let .typing(_, name, from):
            // Told to the members here, if any: nothing is loaded for a room nobody holds.
            guard let room = existingRoom(name) else { return }
            room.lock.withLock {
                guard !room.retired else { return }
                broadcastLocked(room, event: .typing(room: name, from: from), ephemeral: true)
            }
        case .resync:
            // The listener was down: whatever was committed meanwhile is read from the table.
            let all = rooms.withLockedValue { Array($0.values) }
            committer.withLockedValue { $0 }?.async { [self] in
                var complete = true
                for room in all {
                    do {
                        guard let last = try await store?.lastSequence(room: room.name) else { continue }
                        await deliverInOrder(room, [], through: last)
                    } catch {
                        // The rest would fail too, each after its deadline, while commits
                        // (and a stop's final flush) wait behind this job.
                        complete = false
                        break
                    }
                }
                // The reads failed (the database is going away again, or its connection was
                // cut): try again shortly rather than wait for the room's next message.
                if !complete {
                    metrics.errors("cluster_read_failed").increment()
                    DispatchQueue.global().asyncAfter(deadline: .now() + 1) { [self] in handleClusterEvent(.resync) }
                }
            }
        case let .read(_, name, reader, seq):
            tellReader(reader, room: name, seq: seq, except: nil, announce: false)
        case .kick, .mute, .unmute, .ban, .unban:
            break  // ServerCore's: moderation
        }
    }

    /// Changes one room's remote counts; returns its new total of remote members.
    private func changePresence(room name: String, _ change: (inout [String: Int]) -> Void) -> Int {
        remotePresence.withLockedValue { presence in
            var nodes = presence[name] ?? [:]
            change(&nodes)
            presence[name] = nodes.isEmpty ? nil : nodes
            return nodes.values.reduce(0, +)
        }
    }

    /// Applies a new remote count to a room used here and tells its members: with `text`
    /// (someone joined or left), or, when only the count was corrected, "N online".
    private func showRemote(_ name: String, total: Int, text: String?) {
        guard let room = rooms.withLockedValue({ $0[name] }) else { return }
        room.lock.withLock {
            guard room.state.remoteMembers(total) || text != nil else { return }
            guard room.state.localMembers > 0 else { return }
            let online = room.state.total
            broadcastLocked(room, event: .presence(room: name, message: text ?? "\(online) online", online: online))
        }
        if total == 0 { retireIfIdle(room) }
    }
}
