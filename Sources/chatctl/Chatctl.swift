import ArgumentParser
import ChatControl
import Foundation

@main
struct Chatctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chatctl",
        abstract: "Operate a running chatd over its control socket.",
        discussion: """
            Exit status: 0 success; 1 the command failed (e.g. an invalid configuration on reload, \
            nothing to kick, a failed smoke test); 3 chatd is not running; 4 permission denied; \
            5 protocol error; 64 usage error.
            """,
        version: "0.1.0",
        subcommands: [
            Status.self, Connections.self, Rooms.self, Kick.self, Reload.self, Delete.self, Mute.self, Publish.self,
            Unmute.self, Ban.self, Unban.self, Mutes.self, Bans.self, PurgeUser.self, Audit.self, Versions.self, Webhooks.self,
            Smoke.self,
        ]
    )
}

/// Options every control command takes.
struct ControlOptions: ParsableArguments {
    @Option(help: "Control socket path. Default: $CHATD_CONTROL_SOCKET or \(ControlProtocol.defaultSocketPath).")
    var socket: String?

    @Flag(help: "Print the daemon's JSON answer instead of a table.")
    var json = false

    var path: String {
        socket ?? ProcessInfo.processInfo.environment["CHATD_CONTROL_SOCKET"] ?? ControlProtocol.defaultSocketPath
    }

    /// Sends `request`; prints JSON when asked; maps failures to exit statuses.
    func run(_ request: ControlRequest) throws -> ControlResponse {
        let response: ControlResponse
        do {
            response = try ControlClient.send(request, socketPath: path)
        } catch {
            Output.error("chatctl: \(error)")
            throw ExitCode(error.exitCode)
        }
        if json, let data = try? ControlCoding.encode(response) {
            FileHandle.standardOutput.write(data)
        }
        if !response.ok {
            if !json { Output.error("chatctl: \(response.error?.message ?? "failed") (\(response.error?.code ?? "error"))") }
            throw ExitCode(1)
        }
        return response
    }
}

enum Output {
    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// A left-aligned text table.
    static func table(_ header: [String], _ rows: [[String]]) {
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }

    static func duration(_ seconds: Double) -> String {
        let s = seconds.isFinite ? Int(max(0, min(seconds, 1e12))) : 0
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        return "\(s / 86400)d\((s % 86400) / 3600)h"
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Version, pid, uptime, config, connections, rooms, message counts, last reload; in a cluster the node, database and listener.")
    @OptionGroup var control: ControlOptions

    func run() throws {
        let response = try control.run(ControlRequest(command: .status))
        guard !control.json, let s = response.status else { return }
        var rows: [[String]] = [
            ["version", s.version], ["pid", String(s.pid)], ["uptime", Output.duration(s.uptimeSeconds)],
            ["ready", s.ready ? "yes" : "no (draining)"],
            ["config", "\(s.configPath ?? "(built-in defaults)") (generation \(s.configGeneration))"],
            ["connections", String(s.connections)], ["rooms", String(s.rooms)],
            ["messages in", String(s.messagesIn)], ["messages out", String(s.messagesOut)],
        ]
        if let r = s.lastReload {
            let when = Date(timeIntervalSince1970: r.at).formatted(.iso8601)
            rows.append([
                "last reload",
                r.ok
                    ? "ok at \(when), applied: \(r.applied.isEmpty ? "nothing changed" : r.applied.joined(separator: ", "))"
                    : "FAILED at \(when): \(r.error ?? "")",
            ])
        } else {
            rows.append(["last reload", "none"])
        }
        if let c = s.cluster {
            rows.append(["node", c.node])
            rows.append(["database", "\(c.database) (\(c.databaseConnected ? "connected" : "NOT CONNECTED"))"])
            rows.append([
                "listener",
                c.listening
                    ? "listening, lag \(c.lagSeconds.map { String(format: "%.1f ms", $0 * 1000) } ?? "unknown")"
                    : "NOT LISTENING (reconnecting)",
            ])
            rows.append(["listener reconnects", String(c.reconnects)])
            rows.append(["peers", c.peers.isEmpty ? "none" : c.peers.joined(separator: ", ")])
        }
        Output.table(["field", "value"], rows)
    }
}

struct Connections: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List open connections.")
    @OptionGroup var control: ControlOptions
    @Option(help: "Only this room.") var room: String?

    func run() throws {
        let response = try control.run(ControlRequest(command: .connections, room: room))
        guard !control.json else { return }
        Output.table(
            ["id", "name", "user", "room", "address", "age"],
            (response.connections ?? []).map {
                [$0.id, $0.name, $0.user ?? "-", $0.room, $0.address, Output.duration($0.connectedSeconds)]
            })
    }
}

struct Rooms: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List rooms with their online counts and last sequence numbers.")
    @OptionGroup var control: ControlOptions

    func run() throws {
        let response = try control.run(ControlRequest(command: .rooms))
        guard !control.json else { return }
        Output.table(["room", "online", "last seq"], (response.rooms ?? []).map { [$0.name, String($0.online), String($0.lastSeq)] })
    }
}

struct Kick: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close a connection, or every connection of a user, with code 1008.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Connection id (from `chatctl connections`).") var connection: String?
    @Option(
        help:
            "Kick every connection of this identity instead (the `user` column of `chatctl connections`, e.g. credential:alice; a bare name means credential:NAME)."
    ) var user: String?
    @Option(help: "Reason sent in the close frame.") var reason: String?

    func validate() throws {
        guard (connection == nil) != (user == nil) else {
            throw ValidationError("give a connection id or --user NAME (one of them)")
        }
    }

    func run() throws {
        let response = try control.run(ControlRequest(command: .kick, connection: connection, user: user, reason: reason))
        guard !control.json else { return }
        print(
            "kicked \(response.kicked ?? 0) connection(s)\(response.kickedElsewhere == true ? " on this node; asked the other nodes too" : "")"
        )
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the configuration file; on error keep the running one and say why (exit 1).")
    @OptionGroup var control: ControlOptions

    func run() throws {
        let response = try control.run(ControlRequest(command: .reload))
        guard !control.json, let r = response.reload else { return }
        print("reloaded: configuration generation \(r.generation)")
        print("applied: \(r.applied.isEmpty ? "nothing changed" : r.applied.joined(separator: ", "))")
        if !r.needsRestart.isEmpty { print("needs a restart to take effect: \(r.needsRestart.joined(separator: ", "))") }
        if r.revoked > 0 { print("closed \(r.revoked) connection(s) whose credential was revoked") }
    }
}
