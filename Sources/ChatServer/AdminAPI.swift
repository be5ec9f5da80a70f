import ChatAuth
import ChatControl
import ChatCore
import Foundation
import NIOCore
import NIOHTTP1

/// `/api/admin/...`: the admin console's JSON (`/admin`). Reads (GET) report what chatctl's
/// `status`, `rooms`, `connections`, `audit` and `webhooks` report, and `series` the counters'
/// recent samples; `POST /api/admin/actions` runs a moderation command through the control
/// socket's own dispatcher (`ControlCommands.handle`), so it is authorized and audited as
/// chatctl's are, with the actor `admin:NAME (console)`.
///
/// Only `Authorization: Bearer TOKEN` authenticates, checked by the upgrade's authenticator;
/// the identity must have role admin. No cookie is read and no CORS header is sent, so
/// another site's page cannot use an admin's browser: its requests carry no credential, and
/// a POST must also be declared JSON (which needs a preflight chatd never grants) and come
/// from one of `auth.allowed_origins` when it names an origin. A wrong token costs its address
/// a token of the attempt bucket, like a wrong publish key.
final class AdminAPI: Sendable {
    typealias Answer = PublishEndpoint.Answer

    /// Weak: the listener's initializer holds this, and the server holds its listeners.
    private weak let server: ChatServer?

    init(server: ChatServer) { self.server = server }

    static func handles(path: String) -> Bool { path.hasPrefix(AdminPolicy.prefix) }

    /// Answers through `reply` (from a task: hop to the channel's loop).
    func answer(
        _ head: HTTPRequestHead, body: ByteBuffer?, tooLarge: Bool, address: String,
        reply: @escaping @Sendable (Answer) -> Void
    ) {
        guard let server else { return reply(Self.failure(.serviceUnavailable, "shutting down")) }
        let core = server.core
        let (path, parameters) = QueryString.split(target: head.uri)
        guard let endpoint = AdminPolicy.endpoint(path: path) else {
            let names = AdminPolicy.Endpoint.allCases.map { AdminPolicy.prefix + $0.rawValue }.joined(separator: ", ")
            return reply(Self.failure(.notFound, "no such admin endpoint; there are \(names)"))
        }
        let isRead = head.method == .GET || head.method == .HEAD
        guard endpoint == .actions ? head.method == .POST : isRead else {
            var answer = Self.failure(.methodNotAllowed, "use \(endpoint.method)")
            answer.headers.append(("Allow", endpoint == .actions ? "POST" : "GET, HEAD"))
            return reply(answer)
        }
        // No token guesses nothing: a 401 that costs no attempt (and is never a 429).
        guard let token = UpgradeGate.bearerToken(head.headers.first(name: "authorization")), !token.isEmpty else {
            var answer = Self.failure(.unauthorized, "missing token (Authorization: Bearer TOKEN of a credential with role admin)")
            answer.headers.append(("WWW-Authenticate", "Bearer"))
            return reply(answer)
        }
        let settings = core.settings.current
        let now = NIODeadline.now().uptimeNanoseconds
        guard core.limits.mayAttempt(address: address, settings: settings, now: now) else {
            var answer = Self.failure(.tooManyRequests, "too many wrong tokens from your address: retry later")
            answer.headers.append(("Retry-After", String(PublishEndpoint.retryAfterSeconds(settings))))
            return reply(answer)
        }
        let unauthorized: @Sendable (String) -> Void = { reason in
            core.limits.attemptFailed(address: address, settings: settings, now: now)
            var answer = Self.failure(.unauthorized, reason)
            answer.headers.append(("WWW-Authenticate", "Bearer"))
            reply(answer)
        }
        let request = Request(
            endpoint: endpoint, parameters: parameters, body: body, tooLarge: tooLarge,
            contentType: head.headers.first(name: "content-type"), origin: head.headers.first(name: "origin"))
        if let identity = settings.authenticator.staticIdentity(token) {
            return serve(request, identity: identity, server: server, reply: reply)
        }
        guard settings.authenticator.mayBeJWT(token) else { return unauthorized(AuthFailure.unknownToken.reason) }
        let authenticator = settings.authenticator
        Task { [self] in
            switch await authenticator.identify(token) {
            case let .success(identity): serve(request, identity: identity, server: server, reply: reply)
            case let .failure(why): unauthorized(why.reason)
            }
        }
    }

    struct Request: Sendable {
        var endpoint: AdminPolicy.Endpoint
        var parameters: [String: String]
        var body: ByteBuffer?
        var tooLarge: Bool
        var contentType: String?
        var origin: String?
    }

    private func serve(_ request: Request, identity: Identity, server: ChatServer, reply: @escaping @Sendable (Answer) -> Void) {
        if let refusal = AdminPolicy.authorize(identity) { return reply(Self.failure(refusal)) }
        let settings = server.core.settings.current
        if request.endpoint == .actions {
            if let refusal = AdminPolicy.checkPost(
                contentType: request.contentType, origin: request.origin, allowedOrigins: settings.gate.allowedOrigins)
            {
                return reply(Self.failure(refusal))
            }
            if request.tooLarge { return reply(PublishEndpoint.tooLarge(limit: settings.maxBodyBytes)) }
        }
        let actor = AdminPolicy.actor(name: identity.name)
        Task {
            let answer: Answer
            switch request.endpoint {
            case .actions: answer = await Self.act(request.body, actor: actor, server: server)
            default: answer = await Self.read(request, server: server)
            }
            reply(answer)
        }
    }

    // MARK: Actions

    /// The keys a console action may carry: those of `ControlRequest` the actions use. Any
    /// other is refused rather than ignored, so that a misspelt `seconds` cannot turn a
    /// one-hour ban into a permanent one.
    static let actionKeys: Set<String> = ["v", "command", "room", "connection", "user", "reason", "seq", "seconds", "hook"]

    static func act(_ body: ByteBuffer?, actor: String, server: ChatServer) async -> Answer {
        let bytes = Data(body?.readableBytesView ?? ByteBuffer().readableBytesView)
        guard var object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] else {
            return failure(
                .badRequest, "the body must be a JSON object: a control request such as {\"command\":\"kick\",\"user\":\"NAME\"}")
        }
        if let command = object["command"], !(command is String) { return failure(.badRequest, "\"command\" must be a string") }
        if let refusal = AdminPolicy.checkAction(command: object["command"] as? String) { return failure(refusal) }
        if let unknown = object.keys.sorted().first(where: { !actionKeys.contains($0) }) {
            return failure(.badRequest, "unknown field \"\(unknown)\"; an action takes \(actionKeys.sorted().joined(separator: ", "))")
        }
        // The control protocol's version is implied: the console speaks the daemon's own.
        if object["v"] == nil { object["v"] = ControlProtocol.version }
        let request: ControlRequest
        do {
            request = try ControlCoding.decode(ControlRequest.self, from: try JSONSerialization.data(withJSONObject: object))
        } catch {
            return failure(.badRequest, "not a control request: \(Self.describe(error))")
        }
        guard request.v == ControlProtocol.version else {
            return failure(.badRequest, "chatd speaks control protocol v\(ControlProtocol.version), not v\(request.v)")
        }
        let response = await ControlCommands.handle(request, server: server, actor: actor)
        guard response.ok else {
            let error = response.error ?? ControlError(code: "failed", message: "the action failed")
            let status: HTTPResponseStatus =
                switch error.code {
                case "bad_request": .badRequest
                case "not_found": .notFound
                case "forbidden": .forbidden
                default: .serviceUnavailable
                }
            return failure(status, error.message, code: error.code)
        }
        return encoded(response)
    }

    /// A decoding error without Swift's type names: which field, and what was wrong.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context):
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return field.isEmpty ? context.debugDescription : "\(field): \(context.debugDescription)"
        case let DecodingError.keyNotFound(key, _):
            return "\(key.stringValue) is missing"
        default:
            return "\(error)"
        }
    }

    // MARK: Answers

    static func encoded(_ value: some Encodable) -> Answer {
        guard let data = try? ControlCoding.encode(value) else { return failure(.internalServerError, "the answer could not be encoded") }
        return Answer(status: .ok, json: Array(data.dropLast()))
    }

    static func failure(_ refusal: AdminPolicy.Refusal) -> Answer {
        failure(HTTPResponseStatus(statusCode: refusal.status), refusal.reason)
    }

    static func failure(_ status: HTTPResponseStatus, _ reason: String, code: String? = nil) -> Answer {
        Answer.failure(status, reason, code: code)
    }
}
