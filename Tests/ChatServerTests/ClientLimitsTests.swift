import ChatConfig
import Testing

@testable import ChatServer

/// ClientLimits without sockets (issue 13, items 8 and 10): pending caps, IPv6 grouping,
/// reload of bucket sizes, and the tables shrinking.
@Suite struct ClientLimitsTests {
    static let second: UInt64 = 1_000_000_000

    func settings(_ change: (inout Config.Limits) -> Void = { _ in }) throws -> Settings {
        var config = Config()
        change(&config.limits)
        return try Settings(config)
    }

    @Test func pendingConnectionsAreCappedPerAddressAndInAll() throws {
        let limits = ClientLimits()
        let s = try settings {
            $0.maxPendingPerIP = 2
            $0.maxPendingConnections = 3
        }
        #expect(limits.countPending(peer: "198.51.100.1", capped: true, settings: s, now: 0) == nil)
        #expect(limits.countPending(peer: "198.51.100.1", capped: true, settings: s, now: 0) == nil)
        #expect(limits.countPending(peer: "198.51.100.1", capped: true, settings: s, now: 0) == .perAddress)
        #expect(limits.countPending(peer: "198.51.100.2", capped: true, settings: s, now: 0) == nil)
        #expect(limits.countPending(peer: "198.51.100.3", capped: true, settings: s, now: 0) == .total)
        #expect(limits.pendingConnections == 3)
        limits.pendingEnded(peer: "198.51.100.1")
        #expect(limits.countPending(peer: "198.51.100.1", capped: true, settings: s, now: 0) == nil)
        #expect(limits.pendingConnections == 3)
    }

    @Test func aTrustedProxyIsCappedOnlyByTheTotal() throws {
        let limits = ClientLimits()
        let s = try settings {
            $0.maxPendingPerIP = 1
            $0.maxPendingConnections = 3
        }
        for _ in 0..<3 { #expect(limits.countPending(peer: "127.0.0.1", capped: false, settings: s, now: 0) == nil) }
        #expect(limits.countPending(peer: "127.0.0.1", capped: false, settings: s, now: 0) == .total)
    }

    @Test func ipv6AddressesOfOnePrefixShareTheirAllowance() throws {
        let limits = ClientLimits()
        let s = try settings {
            $0.maxConnectionsPerIP = 2
            $0.maxPendingPerIP = 2
        }
        for address in ["2001:db8::1", "2001:db8::2"] {
            #expect(limits.countUpgrade(address: address, total: 0, settings: s, now: 0) == nil)
            limits.opened(address: address)
        }
        // A third /128 of the same /64 is the same client.
        #expect(
            limits.countUpgrade(address: "2001:db8::ffff", total: 0, settings: s, now: 0)
                == .tooMany("too many connections from your address"))
        #expect(limits.countUpgrade(address: "2001:db8:0:1::1", total: 0, settings: s, now: 0) == nil)
        // Pending connections too.
        #expect(limits.countPending(peer: "2001:db8:5::1", capped: true, settings: s, now: 0) == nil)
        #expect(limits.countPending(peer: "2001:db8:5::2", capped: true, settings: s, now: 0) == nil)
        #expect(limits.countPending(peer: "2001:db8:5::3", capped: true, settings: s, now: 0) == .perAddress)
        // A reload to /128 counts each address alone; closes still match their opens.
        let each = try settings {
            $0.maxConnectionsPerIP = 2
            $0.ipv6PrefixLength = 128
        }
        #expect(limits.countUpgrade(address: "2001:db8::ffff", total: 0, settings: each, now: 0) == nil)
        limits.closed(address: "2001:db8::1")
        limits.closed(address: "2001:db8::2")
        // Back to /64: the group is empty again.
        let grouped = try settings { $0.maxConnectionsPerIP = 2 }
        #expect(limits.countUpgrade(address: "2001:db8::3", total: 0, settings: grouped, now: 0) == nil)
    }

    @Test func messagesFromOnePrefixShareOneBucket() throws {
        let limits = ClientLimits()
        let s = try settings {
            $0.ipRateMessages = 2
            $0.rateWindowSeconds = 600
            $0.userRateMessages = 100
        }
        for address in ["2001:db8::1", "2001:db8::2"] {
            _ = limits.countUpgrade(address: address, total: 0, settings: s, now: 0)
            limits.opened(address: address)
        }
        #expect(limits.allowMessage(address: "2001:db8::1", user: "a", settings: s, now: 0))
        #expect(limits.allowMessage(address: "2001:db8::2", user: "b", settings: s, now: 0))
        #expect(!limits.allowMessage(address: "2001:db8::1", user: "c", settings: s, now: 0))
    }

    @Test func aReloadResizesTheBucketsOfKnownClients() throws {
        let limits = ClientLimits()
        let generous = try settings {
            $0.upgradesPerMinutePerIP = 10
            $0.userRateMessages = 10
            $0.rateWindowSeconds = 600
        }
        #expect(limits.countUpgrade(address: "198.51.100.9", total: 0, settings: generous, now: 0) == nil)
        #expect(limits.allowMessage(address: "198.51.100.9", user: "u", settings: generous, now: 0))
        // Down to 3: the 9 tokens left become 3, not a fresh burst of the old size.
        let strict = try settings {
            $0.upgradesPerMinutePerIP = 3
            $0.userRateMessages = 3
            $0.rateWindowSeconds = 600
        }
        for _ in 0..<3 { #expect(limits.countUpgrade(address: "198.51.100.9", total: 0, settings: strict, now: 1) == nil) }
        #expect(
            limits.countUpgrade(address: "198.51.100.9", total: 0, settings: strict, now: 1)
                == .tooMany("too many connection attempts from your address"))
        for _ in 0..<3 { #expect(limits.allowMessage(address: "198.51.100.9", user: "u", settings: strict, now: 1)) }
        #expect(!limits.allowMessage(address: "198.51.100.9", user: "u", settings: strict, now: 1))
    }

    @Test func pruneForgetsClientsThatLeftAndRefilled() throws {
        let limits = ClientLimits()
        let s = try settings { $0.rateWindowSeconds = 10 }
        for i in 0..<100 {
            let address = "198.51.100.\(i)"
            _ = limits.countUpgrade(address: address, total: 0, settings: s, now: 0)
            limits.opened(address: address)
            _ = limits.allowMessage(address: address, user: "user\(i)", settings: s, now: 0)
        }
        #expect(limits.tableSizes == (100, 100))
        // Still connected: kept, whatever the time.
        limits.prune(now: 3600 * Self.second)
        #expect(limits.tableSizes.addresses == 100)
        #expect(limits.tableSizes.users == 0)
        for i in 0..<100 { limits.closed(address: "198.51.100.\(i)") }
        // Gone but a bucket not yet refilled (upgrades refill over a minute): kept for now.
        _ = limits.countUpgrade(address: "198.51.100.0", total: 0, settings: s, now: 3600 * Self.second)
        limits.prune(now: 3600 * Self.second + 1)
        #expect(limits.tableSizes.addresses == 1)
        limits.prune(now: 3700 * Self.second)
        #expect(limits.tableSizes.addresses == 0)
        // Pending connections keep their entry until they end.
        _ = limits.countPending(peer: "203.0.113.1", capped: true, settings: s, now: 0)
        limits.prune(now: 3800 * Self.second)
        #expect(limits.tableSizes.addresses == 1)
        limits.pendingEnded(peer: "203.0.113.1")
        limits.prune(now: 3800 * Self.second)
        #expect(limits.tableSizes.addresses == 0)
    }
}
