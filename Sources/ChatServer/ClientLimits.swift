import ChatCore
import NIOConcurrencyHelpers

/// Limits across connections: per client address (concurrent connections, upgrades per
/// minute, messages) and per user (messages, whatever the number of connections). One lock,
/// taken once per upgrade and once per inbound message; never per delivered frame.
final class ClientLimits: @unchecked Sendable {
    private struct Address {
        var connections = 0
        var upgrades: TokenBucket
        var messages: TokenBucket
    }

    private let lock = NIOLock()
    private var addresses: [String: Address] = [:]  // guarded by `lock`
    private var users: [String: TokenBucket] = [:]   // guarded by `lock`

    enum Refusal: Equatable {
        /// Too many upgrades or connections from this address: 429.
        case tooMany(String)
        /// The server is full: 503.
        case full
    }

    /// Asked at the upgrade, before any WebSocket state exists; consumes an upgrade token.
    func admit(address: String, total: Int, settings: Settings, now: UInt64) -> Refusal? {
        if total >= settings.maxConnections { return .full }
        return lock.withLock {
            var entry = addresses[address] ?? Address(
                upgrades: TokenBucket(capacity: settings.upgradesPerMinutePerIP, windowNanoseconds: 60_000_000_000, now: now),
                messages: TokenBucket(capacity: settings.ipRateMessages, windowNanoseconds: settings.rateWindowNanoseconds, now: now))
            defer { addresses[address] = entry }
            guard entry.upgrades.consume(now: now) else { return .tooMany("too many connection attempts from your address") }
            guard entry.connections < settings.maxConnectionsPerIP else {
                return .tooMany("too many connections from your address")
            }
            return nil
        }
    }

    func opened(address: String) {
        lock.withLock { addresses[address]?.connections += 1 }
    }

    func closed(address: String) {
        lock.withLock { addresses[address]?.connections -= 1 }
    }

    /// One message from `address` by `user`: both buckets must have a token.
    func allowMessage(address: String, user: String, settings: Settings, now: UInt64) -> Bool {
        lock.withLock {
            var userBucket = users[user] ?? TokenBucket(capacity: settings.userRateMessages,
                                                        windowNanoseconds: settings.rateWindowNanoseconds, now: now)
            defer { users[user] = userBucket }
            guard userBucket.consume(now: now) else { return false }
            return addresses[address]?.messages.consume(now: now) ?? true
        }
    }

    /// Forgets addresses and users with no connection whose buckets have refilled, so that
    /// the tables stay bounded by the clients actually present.
    func prune(now: UInt64) {
        lock.withLock {
            addresses = addresses.filter { entry in
                var upgrades = entry.value.upgrades
                var messages = entry.value.messages
                return entry.value.connections > 0 || !upgrades.isFull(now: now) || !messages.isFull(now: now)
            }
            users = users.filter { entry in
                var bucket = entry.value
                return !bucket.isFull(now: now)
            }
        }
    }
}
