import ChatControl
import ChatCore
import Foundation

/// `mute`, `ban`, `unmute`, `unban`: one shape for both kinds.
extension ControlCommands {
    static func restrict(_ request: ControlRequest, server: ChatServer, actor: String) async -> ControlResponse {
        let kind: Restriction.Kind = request.command == .ban ? .ban : .mute
        guard let user = request.user, !user.isEmpty else { return .failure("bad_request", "\(kind.rawValue) needs a user name") }
        // An identity is printable and short, and names someone (found by review: a blank, a
        // newline or 5000 characters were stored and listed).
        guard user.utf8.count <= 512, user.unicodeScalars.allSatisfy({ !$0.properties.isWhitespace || $0 == " " }),
            !user.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
            user.trimmingCharacters(in: .whitespaces) == user, !user.hasSuffix(":")
        else {
            return .failure("bad_request", "not an identity: copy it from the user column of chatctl connections")
        }
        // NaN, infinities and 0 are mistakes; a huge finite duration is "until lifted".
        if let seconds = request.seconds, !(seconds > 0 && seconds.isFinite) {
            return .failure("bad_request", "the duration must be a positive number of seconds")
        }
        let applied = await server.restrict(kind, user: user, seconds: request.seconds, actor: actor, reason: request.reason ?? "")
        if let notStored = applied.notStored {
            return .failure(
                "not_stored", "\(kind.rawValue) of \(applied.target) holds on every node until they restart; the store failed: \(notStored)"
            )
        }
        var response = ControlResponse()
        switch kind {
        case .mute:
            response.muted = applied.target
            response.matched = await server.connectionCount(user: user)
        case .ban:
            response.banned = applied.target
            response.kicked = applied.closed
        }
        return response
    }

    static func lift(_ request: ControlRequest, server: ChatServer, actor: String) async -> ControlResponse {
        let kind: Restriction.Kind = request.command == .unban ? .ban : .mute
        guard let user = request.user, !user.isEmpty else { return .failure("bad_request", "un\(kind.rawValue) needs a user name") }
        let (lifted, notStored) = await server.lift(kind, user: user, actor: actor, reason: request.reason ?? "")
        if let notStored {
            return .failure("not_stored", "the store failed, so the \(kind.rawValue) of \(user) is back at the next restart: \(notStored)")
        }
        guard lifted else { return .failure("not_found", "\(user) is not \(kind == .ban ? "banned" : "muted")") }
        return ControlResponse()
    }
}
