import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// chatd's load tool: fan-out at saturation, latency at a fixed offered load, idle
/// connections held, handshake rate. Prints one JSON object per run.
@main
struct Chatbench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chatbench",
        abstract: "Load chatd over real WebSockets and report JSON.",
        subcommands: [Fanout.self, Latency.self, Idle.self, Handshakes.self, Floor.self])
}

struct Common: ParsableArguments {
    @Option(help: "chatd's host.") var host = "127.0.0.1"
    @Option(help: "chatd's port.") var port = 8080
    @Option(help: "Token to connect with.") var token = "dev-token"
    @Option(help: "Origin header.") var origin: String?
    @Option(help: "Local source addresses 127.0.0.1…N to spread connections over.") var sources = 4
    @Option(help: "Event loop threads of the load tool.") var threads = 1
    @Option(help: "chatd's pid, to read its CPU time and memory from /proc.") var serverPid: Int32?
    @Option(help: "Another cluster node's port for every member but each room's sender: cross-node deliveries.")
    var memberPort: Int?
    @Flag(help: "Offer permessage-deflate, as browsers do.") var deflate = false

    var target: Target {
        Target(
            host: host, port: port, token: token, origin: origin ?? "http://localhost:\(port)", sources: sources,
            memberPort: memberPort, deflate: deflate)
    }

    func target(membersPerRoom: Int) -> Target {
        var target = self.target
        target.membersPerRoom = membersPerRoom
        return target
    }

    var stats: ProcessStats? { serverPid.map(ProcessStats.init) }
}

/// Prints the report as JSON, then closes the scenario's connections and event loops.
func finish(_ report: [String: Any], closing channels: [any Channel], group: MultiThreadedEventLoopGroup) async throws {
    let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: data, as: UTF8.self))
    for channel in channels { channel.close(promise: nil) }
    try await group.shutdownGracefully()
}

/// Rooms × members, one sender per room (a member too). Senders keep `window` messages in
/// flight (sent, not yet echoed back): a closed loop that runs the server at saturation
/// without outrunning it.
struct Fanout: AsyncParsableCommand {
    @OptionGroup var common: Common
    @Option var rooms = 10
    @Option var members = 100
    @Option var seconds = 10.0
    @Option(help: "Messages in flight per sender.") var window = 64

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let connector = Connector(group: group, target: common.target(membersPerRoom: members))
        let delivered = Counter()
        let echoes = (0..<rooms).map { _ in Counter() }
        let members = self.members
        let channels = try await connector.openMany(
            count: rooms * members, room: { "bench-\($0 / members)" },
            events: { index in
                var events = BenchConnection.Events()
                let isSender = index % members == 0
                let echo = echoes[index / members]
                events.message = { _ in
                    delivered.add()
                    if isSender { echo.add() }
                }
                return events
            })
        let senders = (0..<rooms).map { channels[$0 * members] }
        let payload = Array(#"{"type":"message","text":"fan-out benchmark message of about sixty bytes"}"#.utf8)
        let frame = BenchFrame.masked(opcode: 0x1, payload: payload)
        try await Task.sleep(for: .milliseconds(500))  // presence storms of the joins settle
        let cpuBefore = common.stats?.cpuSeconds()
        let startDelivered = delivered.current
        let start = now()
        let deadline = start + UInt64(seconds * 1e9)
        var sent = [Int](repeating: 0, count: rooms)
        let startEchoes = echoes.map(\.current)
        while now() < deadline {
            for room in 0..<rooms where sent[room] - (echoes[room].current - startEchoes[room]) < window {
                senders[room].writeAndFlush(frame, promise: nil)
                sent[room] += 1
            }
            try await Task.sleep(for: .microseconds(200))
        }
        let elapsed = Double(now() - start) / 1e9
        let count = delivered.current - startDelivered
        let cpu: Double? = if let before = cpuBefore, let after = common.stats?.cpuSeconds() { after - before } else { nil }
        var report: [String: Any] = [
            "scenario": "fanout", "rooms": rooms, "members": members, "seconds": elapsed,
            "messages_sent": sent.reduce(0, +), "deliveries": count, "deliveries_per_second": Double(count) / elapsed,
        ]
        if let cpu {
            report["server_cpu_seconds"] = cpu
            report["server_cpu_seconds_per_million_deliveries"] = cpu / Double(max(count, 1)) * 1e6
            report["server_cpu_utilisation"] = cpu / elapsed
        }
        try await finish(report, closing: channels, group: group)
    }
}

/// The same topology at a fixed offered load: every delivery's latency, from the sender's
/// clock to the member's, in one process.
struct Latency: AsyncParsableCommand {
    @OptionGroup var common: Common
    @Option var rooms = 10
    @Option var members = 100
    @Option var seconds = 10.0
    @Option(help: "Offered deliveries per second in all.") var rate = 20_000.0
    @Option(help: "Members per room that stop reading once joined (slow consumers); their deliveries are not measured.")
    var stalled = 0
    @Option(help: "Room name prefix (choose one whose rule sets the slow-consumer policy to test).") var roomPrefix = "lat-"

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let connector = Connector(group: group, target: common.target(membersPerRoom: members))
        let samples = Samples()
        let members = self.members
        let stalled = self.stalled
        let crossNode = common.memberPort != nil
        let prefix = roomPrefix
        let channels = try await connector.openMany(
            count: rooms * members, room: { "\(prefix)\($0 / members)" },
            events: { index in
                var events = BenchConnection.Events()
                // Across nodes, the sender's own echo (same node) is not measured.
                let measured = index % members < members - stalled && !(crossNode && index % members == 0)
                events.message = { sentAt in if measured, let sentAt { samples.add(now() &- sentAt) } }
                return events
            })
        // The last `stalled` members of each room stop reading: the kernel buffers fill, then
        // chatd's send buffer, then the room's slow-consumer rule applies.
        for (index, channel) in channels.enumerated() where index % members >= members - stalled {
            channel.setOption(.autoRead, value: false).whenFailure { _ in }
        }
        try await Task.sleep(for: .milliseconds(500))
        _ = samples.take()
        let senders = (0..<rooms).map { channels[$0 * members] }
        // Each message reaches `members` members: messages per second in all = rate / members.
        let interval = Double(members) / rate * 1e9
        let cpuBefore = common.stats?.cpuSeconds()
        let start = now()
        var next = Double(start)
        var sent = 0
        while Double(now()) < Double(start) + seconds * 1e9 {
            let t = now()
            if Double(t) >= next {
                senders[sent % senders.count].writeAndFlush(BenchFrame.message(sentAt: t), promise: nil)
                sent += 1
                next += interval
            } else {
                try await Task.sleep(for: .nanoseconds(Int64(min(next - Double(t), 1e6))))
            }
        }
        try await Task.sleep(for: .milliseconds(500))  // the last deliveries land
        let elapsed = Double(now() - start) / 1e9
        let sorted = samples.take().sorted()
        var report: [String: Any] = [
            "scenario": "latency", "rooms": rooms, "members": members, "stalled_members_per_room": stalled,
            "offered_deliveries_per_second": rate,
            "messages_sent": sent, "deliveries": sorted.count, "seconds": elapsed,
            "latency_ms": [
                "p50": percentile(sorted, 0.5), "p90": percentile(sorted, 0.9), "p99": percentile(sorted, 0.99),
                "p999": percentile(sorted, 0.999), "max": percentile(sorted, 1.0),
            ],
        ]
        if let before = cpuBefore, let after = common.stats?.cpuSeconds() { report["server_cpu_utilisation"] = (after - before) / elapsed }
        try await finish(report, closing: channels, group: group)
    }
}

/// Idle connections held; the server's RSS per connection.
struct Idle: AsyncParsableCommand {
    @OptionGroup var common: Common
    @Option var connections = 10_000
    @Option(help: "Members per room (presence fan-out grows with its square).") var perRoom = 100
    @Option(help: "Seconds to hold them once open.") var hold = 5.0
    @Flag(help: "TCP connections only, no upgrade (for `chatbench floor --pipeline empty`).") var raw = false
    @Flag(help: "With --raw: each connection sends 200 bytes (an upgrade request's size) once (for `floor --pipeline answer`).")
    var hello = false
    @Option(help: "Messages put in each room first, as a reconnect storm after a deploy finds them.") var history = 0

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let connector = Connector(group: group, target: common.target)
        if history > 0 { try await seed(connector) }
        let rssBefore = common.stats?.rssKiB()
        let cpuBefore = common.stats?.cpuSeconds()
        let start = now()
        let perRoom = self.perRoom
        let channels = try await connector.openMany(
            count: connections, inFlight: 256, raw: raw, room: { "idle-\($0 / perRoom)" },
            events: { _ in
                BenchConnection.Events()
            })
        if raw && hello {
            let request = [UInt8](repeating: UInt8(ascii: "x"), count: 200)
            for channel in channels { channel.writeAndFlush(channel.allocator.buffer(bytes: request), promise: nil) }
        }
        let opened = Double(now() - start) / 1e9
        // Connecting is over once the server stops spending CPU on it (presence events of
        // the last joins may still be on their way when the last upgrade is answered).
        var cpuOpened = common.stats?.cpuSeconds()
        while let seen = cpuOpened {
            try await Task.sleep(for: .milliseconds(500))
            guard let later = common.stats?.cpuSeconds(), later - seen > 0.02 else { break }
            cpuOpened = later
        }
        try await Task.sleep(for: .seconds(hold))
        let open = channels.filter(\.isActive).count
        var report: [String: Any] = ["scenario": "idle", "connections": connections, "open_after_hold": open, "seconds_to_open": opened]
        if let before = cpuBefore, let after = cpuOpened { report["server_cpu_seconds_to_open"] = after - before }
        if let before = rssBefore, let after = common.stats?.rssKiB() {
            report["server_rss_kib_before"] = before
            report["server_rss_kib_after"] = after
            report["server_rss_kib_per_connection"] = Double(after - before) / Double(connections)
        }
        try await finish(report, closing: channels, group: group)
    }

    /// One connection per room sends `history` messages, waits for them all to come back,
    /// and leaves: the storm then joins rooms with a full window.
    private func seed(_ connector: Connector) async throws {
        let rooms = (connections + perRoom - 1) / perRoom
        let echoed = (0..<rooms).map { _ in Counter() }
        // Without deflate: the seeders count their messages coming back by type.
        var plain = connector.target
        plain.deflate = false
        let seeders = try await Connector(group: connector.group, target: plain).openMany(
            count: rooms, inFlight: 64, raw: false, room: { "idle-\($0)" },
            events: { index in
                var events = BenchConnection.Events()
                events.message = { _ in echoed[index].add() }
                return events
            })
        let frame = BenchFrame.masked(
            opcode: 0x1, payload: Array(#"{"type":"message","text":"a line of history, about as long as chat lines are"}"#.utf8))
        for channel in seeders {
            for _ in 0..<history { channel.write(frame, promise: nil) }
            channel.flush()
        }
        while echoed.contains(where: { $0.current < history }) { try await Task.sleep(for: .milliseconds(20)) }
        for channel in seeders { try? await channel.close() }
        try await Task.sleep(for: .milliseconds(500))  // the leaves' presence settles
    }
}

/// Upgrades per second: connect, upgrade, wait for the room's presence event of this
/// arrival, close; `concurrency` at a time.
struct Handshakes: AsyncParsableCommand {
    @OptionGroup var common: Common
    @Option var seconds = 10.0
    @Option var concurrency = 64
    @Option var rooms = 10

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        let connector = Connector(group: group, target: common.target)
        let done = Counter()
        let failed = Counter()
        let cpuBefore = common.stats?.cpuSeconds()
        let start = now()
        let deadline = start + UInt64(seconds * 1e9)
        let rooms = self.rooms
        await withTaskGroup(of: Void.self) { tasks in
            for worker in 0..<concurrency {
                tasks.addTask {
                    var index = worker
                    while now() < deadline {
                        let presence = group.next().makePromise(of: Void.self)
                        var events = BenchConnection.Events()
                        events.presence = { presence.succeed(()) }
                        events.closed = { presence.fail(BenchError("closed")) }
                        do {
                            let channel = try await connector.open(
                                index: index, room: "hs-\(index % rooms)", name: "h\(index)", events: events)
                            try await presence.futureResult.get()
                            try await channel.close()
                            done.add()
                        } catch {
                            presence.fail(error)
                            failed.add()
                        }
                        index += concurrency
                    }
                }
            }
        }
        let elapsed = Double(now() - start) / 1e9
        var report: [String: Any] = [
            "scenario": "handshakes", "concurrency": concurrency, "seconds": elapsed, "handshakes": done.current,
            "failed": failed.current, "handshakes_per_second": Double(done.current) / elapsed,
        ]
        if let before = cpuBefore, let after = common.stats?.cpuSeconds() { report["server_cpu_utilisation"] = (after - before) / elapsed }
        try await finish(report, closing: [], group: group)
    }
}
