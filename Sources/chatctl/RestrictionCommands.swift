import ArgumentParser
import ChatControl
import Foundation

struct Ban: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Ban a user on every node: their connections close with 1008 \"banned\" and new ones are refused with 403, until unbanned or the time is up."
    )
    @OptionGroup var control: ControlOptions
    @Argument(
        help:
            "The identity (the `user` column of `chatctl connections`: credential:alice, jwt:ISSUER:SUBJECT, token:HASH:name, guest:NAME; server:KEY for a publish API key); a bare name means credential:NAME."
    ) var user: String
    @Option(name: .customLong("for"), help: "How long (90s, 10m, 2h, 1d). Default: until unbanned.") var duration: String?
    @Option(help: "Reason, for the audit log.") var reason: String?

    func run() throws {
        let seconds = try duration.map(parseDuration)
        let response = try control.run(ControlRequest(command: .ban, user: user, reason: reason, seconds: seconds))
        guard !control.json else { return }
        print(
            "banned \(response.banned ?? user)" + (duration.map { " for \($0)" } ?? " until unbanned")
                + "; closed \(response.kicked ?? 0) connection(s) here")
    }
}

struct Unban: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lift a ban.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "The identity that was banned (as given to `ban`).") var user: String
    @Option(help: "Reason, for the audit log.") var reason: String?

    func run() throws {
        _ = try control.run(ControlRequest(command: .unban, user: user, reason: reason))
        if !control.json { print("unbanned \(user)") }
    }
}

struct Mutes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the mutes in force: identity, until when, who set them and why.")
    @OptionGroup var control: ControlOptions

    func run() throws { try listRestrictions(.mutes, control) }
}

struct Bans: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the bans in force: identity, until when, who set them and why.")
    @OptionGroup var control: ControlOptions

    func run() throws { try listRestrictions(.bans, control) }
}

private func listRestrictions(_ command: ControlRequest.Command, _ control: ControlOptions) throws {
    let response = try control.run(ControlRequest(command: command))
    guard !control.json else { return }
    Output.table(
        ["target", "until", "actor", "reason"],
        (response.restrictions ?? []).map {
            [$0.target, $0.until.map { Date(timeIntervalSince1970: $0).formatted(.iso8601) } ?? "until lifted", $0.actor, $0.reason]
        })
}
