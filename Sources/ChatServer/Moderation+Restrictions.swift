import ChatCore
import Foundation
import Logging

/// Mutes and bans: in force on this node at once, written through to the store (so they
/// outlive a restart and a node that starts later reads them), and told to the other nodes.
extension Moderation {
    struct Held: Sendable {
        var byKind: [Restriction.Kind: [String: Restriction]] = [:]
        /// Counts every change, so that a reload from the store cannot undo a change made
        /// while it read.
        var generation = 0

        mutating func set(_ r: Restriction) {
            byKind[r.kind, default: [:]][r.target] = r
            generation += 1
        }

        mutating func remove(_ kind: Restriction.Kind, _ target: String) -> Restriction? {
            generation += 1
            return byKind[kind]?.removeValue(forKey: target)
        }
    }

    /// The reason a ban's close frame carries (and a kick's audit shows).
    static let banReason = "banned"

    /// True when one of the session's identity keys is under a restriction of `kind`.
    func holds(_ kind: Restriction.Kind, userKey: String, authorKey: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        held.withLockedValue { held in
            for key in UserTarget.keys(userKey: userKey, authorKey: authorKey) {
                guard let r = held.byKind[kind]?[key] else { continue }
                if r.isActive(at: now) { return true }
                held.byKind[kind]?[key] = nil
            }
            return false
        }
    }

    func isMuted(userKey: String, authorKey: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        holds(.mute, userKey: userKey, authorKey: authorKey, now: now)
    }

    func isBanned(userKey: String, authorKey: String, now: Double = Date().timeIntervalSince1970) -> Bool {
        holds(.ban, userKey: userKey, authorKey: authorKey, now: now)
    }

    struct Applied: Sendable {
        /// The identity key applied (a bare name completed to `credential:NAME`).
        var target: String
        /// Connections of this node closed (bans).
        var closed = 0
        /// Set when the store could not take it: it holds on every node until they restart.
        var notStored: String?
    }

    /// Mutes or bans `target` for `seconds` (nil: until lifted); a ban also closes the
    /// identity's connections, here and on the other nodes, with 1008 "banned".
    func restrict(_ kind: Restriction.Kind, _ target: String, seconds: Double?, actor: String, reason: String) async -> Applied {
        let now = Date().timeIntervalSince1970
        let name = UserTarget.normalized(target)
        let r = Restriction(
            kind: kind, target: name, until: Restriction.until(seconds: seconds, now: now), actor: actor, reason: reason, createdAt: now)
        var applied = Applied(target: name)
        do {
            try await hub.store?.setRestriction(r)
        } catch {
            logger.error("\(kind.rawValue) not stored: \(error)")
            applied.notStored = "\(error)"
        }
        held.withLockedValue { $0.set(r) }
        switch kind {
        case .mute: hub.tellCluster(.mute(node: "", name: name, until: r.until))
        case .ban: hub.tellCluster(.ban(node: "", name: name, until: r.until))
        }
        if kind == .ban { applied.closed = await closeBanned([name]) }
        let duration = r.until.map { _ in " for \(Int((seconds ?? 0).rounded()))s" } ?? ""
        await record(actor: actor, action: kind.rawValue, target: name + duration, reason: reason)
        return applied
    }

    /// Lifts a mute or ban; false when there was none in force (`notStored` is then nil).
    func lift(_ kind: Restriction.Kind, _ target: String, actor: String, reason: String) async -> (lifted: Bool, notStored: String?) {
        let now = Date().timeIntervalSince1970
        let name = UserTarget.normalized(target)
        var stored = false
        var failure: String?
        do {
            stored = try await hub.store?.removeRestriction(kind: kind, target: name, now: now) ?? false
        } catch {
            logger.error("un\(kind.rawValue) not stored: \(error)")
            failure = "\(error)"
        }
        let cached = held.withLockedValue { $0.remove(kind, name) }?.isActive(at: now) ?? false
        guard stored || cached else { return (false, failure) }
        switch kind {
        case .mute: hub.tellCluster(.unmute(node: "", name: name))
        case .ban: hub.tellCluster(.unban(node: "", name: name))
        }
        await record(actor: actor, action: "un\(kind.rawValue)", target: name, reason: reason)
        return (true, failure)
    }

    /// Another node's mute or ban (its audit entry and its row are that node's).
    func apply(_ kind: Restriction.Kind, _ name: String, until: Double?) {
        let r = Restriction(kind: kind, target: name, until: until, actor: "", reason: "", createdAt: Date().timeIntervalSince1970)
        held.withLockedValue { $0.set(r) }
        if kind == .ban { Task { await closeBanned([name]) } }
    }

    /// Another node lifted one.
    func applyLift(_ kind: Restriction.Kind, _ name: String) {
        _ = held.withLockedValue { $0.remove(kind, name) }
    }

    /// Those of `kind` in force: the store's (every node's, with who and why), or without a
    /// store this node's.
    func list(_ kind: Restriction.Kind) async throws -> [Restriction] {
        let now = Date().timeIntervalSince1970
        if let store = hub.store { return try await store.restrictions(now: now).filter { $0.kind == kind } }
        return held.withLockedValue { $0.byKind[kind]?.values.filter { $0.isActive(at: now) } ?? [] }.sorted { $0.target < $1.target }
    }

    /// Replaces what is held with the store's rows (at the start, before clients are
    /// accepted; and after the cluster listener missed notifications), and closes the
    /// connections of bans this node had not heard of.
    func reload() async throws {
        guard let store = hub.store else { return }
        var rows: [Restriction] = []
        for _ in 0..<3 {
            let before = held.withLockedValue { $0.generation }
            rows = try await store.restrictions(now: Date().timeIntervalSince1970)
            let newBans: [String]? = held.withLockedValue { held in
                // A change made meanwhile is newer than the rows: read again.
                guard held.generation == before else { return nil }
                let known = Set(held.byKind[.ban]?.keys.map { $0 } ?? [])
                held.byKind = Dictionary(grouping: rows, by: \.kind).mapValues {
                    Dictionary(uniqueKeysWithValues: $0.map { ($0.target, $0) })
                }
                held.generation += 1
                return rows.filter { $0.kind == .ban && !known.contains($0.target) }.map(\.target)
            }
            if let newBans {
                if !newBans.isEmpty { await closeBanned(newBans) }
                return
            }
        }
        // Changes keep coming: add what was read rather than replace.
        held.withLockedValue { held in for r in rows { held.set(r) } }
        await closeBanned(rows.filter { $0.kind == .ban }.map(\.target))
    }

    /// `reload` after a cluster resync, tried again while the database does not answer.
    func reloadAfterResync(attempt: Int = 1) {
        Task {
            do {
                try await reload()
            } catch {
                logger.warning("mutes and bans not reloaded (attempt \(attempt)): \(error)")
                guard attempt < 30 else { return }
                try? await Task.sleep(for: .seconds(1))
                reloadAfterResync(attempt: attempt + 1)
            }
        }
    }

    /// Closes this node's connections of these identities with 1008 "banned"; returns how many.
    @discardableResult
    func closeBanned(_ names: [String]) async -> Int {
        await hub.onEveryLoop { shard in
            names.reduce(0) { $0 + shard.kick(connection: nil, user: $1, reason: Self.banReason) }
        }.reduce(0, +)
    }
}
