import ChatCore
import NIOConcurrencyHelpers
import Prometheus

/// Limits across connections: per client address (pending connections, concurrent
/// connections, upgrades per minute, messages) and per user (messages, whatever the number of
/// connections). One lock, taken at accept, once per upgrade and once per inbound message;
/// never per delivered frame.
///
/// Addresses are counted by `AddressGroup.key`: IPv6 by `limits.ipv6_prefix_length`. Bucket
/// sizes follow the settings passed in, so a reload applies to clients already known.
final class ClientLimits: @unchecked Sendable {
    private struct Address {
        var connections = 0
        /// Accepted connections not yet upgraded (nor closed).
        var pending = 0
        var upgrades: TokenBucket
        var messages: TokenBucket
    }

    private let lock = NIOLock()
    private var addresses: [String: Address] = [:]  // guarded by `lock`
    private var users: [String: TokenBucket] = [:]  // guarded by `lock`
    /// Open WebSocket connections by exact address: a change of the IPv6 prefix length (a
    /// reload) recounts the groups from these, so that closes still match their opens.
    private var open: [String: Int] = [:]  // guarded by `lock`
    private var prefixLength = 64  // guarded by `lock`
    private var pendingTotal = 0  // guarded by `lock`

    enum Refusal: Equatable {
        /// Too many upgrades or connections from this address: 429.
        case tooMany(String)
        /// The server is full: 503.
        case full
    }

    /// Why a connection was closed at accept.
    enum PendingRefusal: String {
        case perAddress = "pending_per_ip"
        case total = "pending_total"
    }

    /// Asked at accept, before anything is read: the connection is pending until `pendingEnded`.
    /// `capped` is false for a trusted proxy (all of its clients share its address); the
    /// total applies to it all the same.
    func countPending(peer: String, capped: Bool, settings: Settings, now: UInt64) -> PendingRefusal? {
        lock.withLock {
            guard pendingTotal < settings.maxPendingConnections else { return .total }
            let key = groupKey(peer, settings: settings, now: now)
            var entry = addresses[key] ?? fresh(settings, now: now)
            if capped, entry.pending >= settings.maxPendingPerIP {
                // Not stored when new: a refused address leaves nothing behind.
                return .perAddress
            }
            entry.pending += 1
            addresses[key] = entry
            pendingTotal += 1
            return nil
        }
    }

    /// The connection upgraded or closed; `peer` as given to `countPending`.
    func pendingEnded(peer: String) {
        lock.withLock {
            pendingTotal -= 1
            let key = AddressGroup.key(peer, ipv6PrefixLength: prefixLength)
            if let pending = addresses[key]?.pending, pending > 0 { addresses[key]?.pending = pending - 1 }
        }
    }

    /// Connections accepted and not yet upgraded, in all.
    var pendingConnections: Int { lock.withLock { pendingTotal } }

    /// Asked at the upgrade, before any WebSocket state exists; consumes an upgrade token.
    func countUpgrade(address: String, total: Int, settings: Settings, now: UInt64) -> Refusal? {
        if total >= settings.maxConnections { return .full }
        return lock.withLock {
            let key = groupKey(address, settings: settings, now: now)
            var entry = addresses[key] ?? fresh(settings, now: now)
            defer { addresses[key] = entry }
            resize(&entry, settings, now: now)
            guard entry.upgrades.consume(now: now) else { return .tooMany("too many connection attempts from your address") }
            guard entry.connections < settings.maxConnectionsPerIP else {
                return .tooMany("too many connections from your address")
            }
            return nil
        }
    }

    /// True when `address` may have an attempt looked at (a publish request): its
    /// attempt bucket (shared with upgrades) has a token. Nothing is consumed.
    func mayAttempt(address: String, settings: Settings, now: UInt64) -> Bool {
        lock.withLock {
            guard var entry = addresses[groupKey(address, settings: settings, now: now)] else { return true }
            resize(&entry, settings, now: now)
            return entry.upgrades.consume(now: now)
        }
    }

    /// A failed attempt (a wrong API key) from `address`: it costs a token of the bucket
    /// that also counts upgrades, so key guessing is as slow as token guessing.
    func attemptFailed(address: String, settings: Settings, now: UInt64) {
        lock.withLock {
            let key = groupKey(address, settings: settings, now: now)
            var entry = addresses[key] ?? fresh(settings, now: now)
            resize(&entry, settings, now: now)
            _ = entry.upgrades.consume(now: now)
            addresses[key] = entry
        }
    }

    func opened(address: String) {
        lock.withLock {
            open[address, default: 0] += 1
            addresses[AddressGroup.key(address, ipv6PrefixLength: prefixLength)]?.connections += 1
        }
    }

    func closed(address: String) {
        lock.withLock {
            if let n = open[address] { open[address] = n > 1 ? n - 1 : nil }
            let key = AddressGroup.key(address, ipv6PrefixLength: prefixLength)
            if let n = addresses[key]?.connections, n > 0 { addresses[key]?.connections = n - 1 }
        }
    }

    /// One message from `address` by `user`: both buckets must have a token.
    func allowMessage(address: String, user: String, settings: Settings, now: UInt64) -> Bool {
        lock.withLock {
            var userBucket =
                users[user]
                ?? TokenBucket(
                    capacity: settings.userRateMessages,
                    windowNanoseconds: settings.rateWindowNanoseconds, now: now)
            Self.resize(&userBucket, capacity: settings.userRateMessages, window: settings.rateWindowNanoseconds, now: now)
            defer { users[user] = userBucket }
            guard userBucket.consume(now: now) else { return false }
            let key = groupKey(address, settings: settings, now: now)
            guard var entry = addresses[key] else { return true }
            resize(&entry, settings, now: now)
            defer { addresses[key] = entry }
            return entry.messages.consume(now: now)
        }
    }

    /// Forgets addresses and users with no connection whose buckets have refilled, so that
    /// the tables stay bounded by the clients actually present (the housekeeper calls it).
    func prune(now: UInt64) {
        lock.withLock {
            addresses = addresses.filter { entry in
                var upgrades = entry.value.upgrades
                var messages = entry.value.messages
                return entry.value.connections > 0 || entry.value.pending > 0 || !upgrades.isFull(now: now)
                    || !messages.isFull(now: now)
            }
            users = users.filter { entry in
                var bucket = entry.value
                return !bucket.isFull(now: now)
            }
        }
    }

    /// Entries held (addresses, users): what `prune` keeps bounded.
    var tableSizes: (addresses: Int, users: Int) { lock.withLock { (addresses.count, users.count) } }

    // MARK: Under the lock

    private func fresh(_ settings: Settings, now: UInt64) -> Address {
        Address(
            upgrades: TokenBucket(capacity: settings.upgradesPerMinutePerIP, windowNanoseconds: 60_000_000_000, now: now),
            messages: TokenBucket(capacity: settings.ipRateMessages, windowNanoseconds: settings.rateWindowNanoseconds, now: now))
    }

    /// The group of `address` under the prefix length in force; a changed length (a reload)
    /// regroups what is counted.
    private func groupKey(_ address: String, settings: Settings, now: UInt64) -> String {
        if settings.ipv6PrefixLength != prefixLength { regroup(settings, now: now) }
        return AddressGroup.key(address, ipv6PrefixLength: prefixLength)
    }

    private func regroup(_ settings: Settings, now: UInt64) {
        let length = settings.ipv6PrefixLength
        prefixLength = length
        // Buckets keep their entries (keys that still exist); counts are rebuilt. Pending
        // counts are per accept and short-lived: they restart from zero per group, and the
        // total (which caps them all) stays exact.
        for key in addresses.keys {
            addresses[key]?.connections = 0
            addresses[key]?.pending = 0
        }
        for (address, count) in open {
            addresses[AddressGroup.key(address, ipv6PrefixLength: length), default: fresh(settings, now: now)].connections += count
        }
    }

    private func resize(_ entry: inout Address, _ settings: Settings, now: UInt64) {
        Self.resize(&entry.upgrades, capacity: settings.upgradesPerMinutePerIP, window: 60_000_000_000, now: now)
        Self.resize(&entry.messages, capacity: settings.ipRateMessages, window: settings.rateWindowNanoseconds, now: now)
    }

    /// Applies the sizes in force to a bucket made under older ones (a reload), without a
    /// fresh burst; a no-op while they are unchanged.
    private static func resize(_ bucket: inout TokenBucket, capacity: Int, window: UInt64, now: UInt64) {
        let rate = Double(capacity) / Double(max(window, 1))
        guard bucket.capacity != Double(capacity) || bucket.refillPerNanosecond != rate else { return }
        bucket.reconfigure(capacity: capacity, windowNanoseconds: window, now: now)
    }
}

/// Thrown by a connection's initializer over a pending cap: NIO closes the connection.
struct PendingLimitReached: Error {
    let reason: ClientLimits.PendingRefusal
}

extension ServerCore {
    /// Counts a connection closed at accept (`chatd_connections_refused_total{reason}`).
    func refusedAtAccept(_ reason: ClientLimits.PendingRefusal, count: Int64 = 1) {
        let name = MetricNameDescriptor(
            namespace: "chatd", metricName: "connections_refused", unitName: "total",
            helpText: "Connections closed at accept: over limits.max_pending_per_ip or limits.max_pending_connections")
        metrics.registry.makeCounter(descriptor: name, labels: [("reason", reason.rawValue)]).increment(by: count)
    }
}
