import ArgumentParser
import ChatControl
import Foundation

/// "90", "90s", "10m", "2h", "1d" as seconds.
func parseDuration(_ text: String) throws -> Double {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
    var number = Substring(text)
    var unit = 1.0
    if let last = text.last, let u = units[last] {
        unit = u
        number = number.dropLast()
    }
    // At most ten years: longer is "until unmuted", which is what leaving out --for says.
    guard let value = Double(number), value > 0, value * unit <= 10 * 365 * 86400 else {
        throw ValidationError("\"\(text)\" is not a duration such as 90s, 10m, 2h or 1d (at most 3650d)")
    }
    return value * unit
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a message from history; every member of the room is told.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Room.") var room: String
    @Argument(help: "Sequence number of the message.") var seq: UInt64
    @Option(help: "Reason, for the audit log.") var reason: String?

    func run() throws {
        _ = try control.run(ControlRequest(command: .delete, room: room, reason: reason, seq: seq))
        if !control.json { print("deleted \(room)#\(seq)") }
    }
}

struct Versions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the texts a message had before each of its edits, oldest first, with who replaced each and when.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Room.") var room: String
    @Argument(help: "Sequence number of the message.") var seq: UInt64

    func run() throws {
        let response = try control.run(ControlRequest(command: .versions, room: room, seq: seq))
        guard !control.json else { return }
        Output.table(["replaced at", "replaced by", "text"], (response.versions ?? []).map { [$0.replacedAt, $0.replacedBy, $0.text] })
    }
}

struct Mute: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mute a user: their messages get the error `muted` until unmuted or the time is up.")
    @OptionGroup var control: ControlOptions
    @Argument(
        help:
            "The identity (the `user` column of `chatctl connections`: credential:alice, jwt:ISSUER:SUBJECT, token:HASH:name); a bare name means credential:NAME. Display names are not identities."
    ) var user: String
    @Option(name: .customLong("for"), help: "How long (90s, 10m, 2h, 1d). Default: until unmuted.") var duration: String?
    @Option(help: "Reason, for the audit log.") var reason: String?

    func run() throws {
        let seconds = try duration.map(parseDuration)
        let response = try control.run(ControlRequest(command: .mute, user: user, reason: reason, seconds: seconds))
        guard !control.json else { return }
        let key = response.muted ?? user
        print("muted \(key)" + (duration.map { " for \($0)" } ?? " until unmuted"))
        if response.matched == 0 {
            // Most often a display name typed where an identity was meant: say so, the mute stands.
            FileHandle.standardError.write(
                Data(
                    ("chatctl: no client connected here answers to \(key); "
                        + "the user column of `chatctl connections` lists identities (guests of a plain token: guest:NAME)\n").utf8))
        }
    }
}

struct Unmute: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lift a mute.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "The identity that was muted (as given to `mute`).") var user: String
    @Option(help: "Reason, for the audit log.") var reason: String?

    func run() throws {
        _ = try control.run(ControlRequest(command: .unmute, user: user, reason: reason))
        if !control.json { print("unmuted \(user)") }
    }
}

struct PurgeUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge-user",
        abstract: "Erase every message sent under a display name (by anyone who used it), from every room's history.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "User name.") var user: String
    @Option(help: "Reason, for the audit log.") var reason: String?

    func run() throws {
        let response = try control.run(ControlRequest(command: .purgeUser, user: user, reason: reason))
        if !control.json { print("erased \(response.deleted ?? 0) message(s) of \(user)") }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List moderation actions: who, what, when, why.")
    @OptionGroup var control: ControlOptions
    @Option(help: "Only the last DURATION (90s, 10m, 2h, 1d).") var since: String?

    func run() throws {
        let from = try since.map { Date().timeIntervalSince1970 - (try parseDuration($0)) }
        let response = try control.run(ControlRequest(command: .audit, since: from))
        guard !control.json else { return }
        Output.table(
            ["when", "actor", "action", "target", "reason"],
            (response.audit ?? []).map {
                [Date(timeIntervalSince1970: $0.at).formatted(.iso8601), $0.actor, $0.action, $0.target, $0.reason]
            })
    }
}

struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send an event to a room as the server (dashboards); it follows the room's history and slow-consumer rules.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Room.") var room: String
    @Argument(help: "Text of the event.") var text: String?
    @Option(help: "A JSON payload for the event's `data`.") var data: String?

    func validate() throws {
        if text == nil && data == nil { throw ValidationError("give a text, --data JSON, or both") }
    }

    func run() throws {
        let response = try control.run(ControlRequest(command: .publish, room: room, text: text, data: data))
        if !control.json { print("published \(room)#\(response.published ?? 0)") }
    }
}

struct Webhooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each webhook's outbox (pending, failed, last error, last success), or retry its failed events.",
        subcommands: [WebhooksList.self, WebhooksRetry.self], defaultSubcommand: WebhooksList.self)
}

struct WebhooksList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Show each webhook's outbox.")
    @OptionGroup var control: ControlOptions

    func run() throws {
        let response = try control.run(ControlRequest(command: .webhooks))
        guard !control.json else { return }
        func when(_ t: Double?) -> String { t.map { Date(timeIntervalSince1970: $0).formatted(.iso8601) } ?? "-" }
        Output.table(
            ["hook", "pending", "failed", "oldest pending", "last success", "last failure", "last error"],
            (response.webhooks ?? []).map {
                [
                    $0.configured ? $0.name : "\($0.name) (not configured)", String($0.pending), String($0.failed),
                    when($0.oldestPendingAt), when($0.lastSuccessAt), when($0.lastFailureAt), $0.lastError ?? "-",
                ]
            })
    }
}

struct WebhooksRetry: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Make a hook's failed events pending again (their age counts from now).")
    @OptionGroup var control: ControlOptions
    @Argument(help: "The hook's name ([webhooks.NAME]).") var hook: String

    func run() throws {
        let response = try control.run(ControlRequest(command: .webhooksRetry, hook: hook))
        if !control.json { print("\(response.retried ?? 0) failed events of \(hook) are pending again") }
    }
}
