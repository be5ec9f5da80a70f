import ChatConfig
import ChatControl
import ChatCore
import Foundation
import NIOCore
import NIOPosix

/// The control socket: line-delimited JSON, one request and one response at a time.
/// The peer's credentials (`SO_PEERCRED`) are checked when it connects: root, chatd's own
/// user, `control.allowed_uids` and members of `control.allowed_groups` are served; anyone
/// else gets a `permission_denied` response and the connection is closed.
enum ControlServer {
    static func bootstrap(group: any EventLoopGroup, server: ChatServer) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlHandler(server: server))
                }
            }
    }
}

/// One control connection. Requests are read a line at a time: only the first line in the
/// buffer is looked at (at most `ControlProtocol.maxLineBytes`, else an error and the close),
/// the next one only once its predecessor's response is written and the socket takes more;
/// reads stop meanwhile, so a client that sends without reading holds one read's worth here
/// and its unread responses in the socket, nothing more. A client that sends no complete
/// line within `idleTimeout` of connecting or of its last response is closed.
final class ControlHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let idleTimeout: TimeAmount = .seconds(10)

    private let server: ChatServer
    private var buffer = ByteBuffer()
    private var allowed: Bool?
    private var busy = false
    private var closing = false
    private var readPending = false
    private var idleTimer: Scheduled<Void>?
    /// Who is on the other end, for the audit log.
    private var peerName = "chatctl"

    init(server: ChatServer) { self.server = server }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(context)
        guard let provider = context.channel as? any SocketOptionProvider else {
            refuse(context, "cannot read peer credentials")
            return
        }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let config = server.core.settings.current.config.control
        future.assumeIsolated().whenComplete { [self] result in
            switch result {
            case let .success(cred) where PeerPolicy.allows(uid: cred.uid, gid: cred.gid, config: config):
                allowed = true
                let user = getpwuid(cred.uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "uid \(cred.uid)"
                peerName = "chatctl (\(user), pid \(cred.pid))"
                processLines(context)
            case let .success(cred):
                allowed = false
                server.core.logger.warning("control socket: peer refused", metadata: ["uid": "\(cred.uid)", "pid": "\(cred.pid)"])
                refuse(context, "uid \(cred.uid) may not use chatd's control socket (see control.allowed_uids and control.allowed_groups)")
            case let .failure(error):
                allowed = false
                refuse(context, "cannot read peer credentials: \(error)")
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        idleTimer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        processLines(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable { processLines(context) }
    }

    func read(context: ChannelHandlerContext) {
        // Nothing more is read while a request waits (for its turn, or for the socket).
        if busy || closing || !context.channel.isWritable || firstLineEnd() != nil {
            readPending = true
        } else {
            context.read()
        }
    }

    /// The index of the first line's newline, if the buffer holds a whole line.
    private func firstLineEnd() -> Int? {
        let view = buffer.readableBytesView.prefix(ControlProtocol.maxLineBytes + 1)
        return view.firstIndex(of: UInt8(ascii: "\n"))
    }

    private func processLines(_ context: ChannelHandlerContext) {
        while allowed == true, !busy, !closing, context.channel.isWritable {
            guard let newline = firstLineEnd() else {
                if buffer.readableBytes > ControlProtocol.maxLineBytes {
                    respond(context, .failure("bad_request", "request line longer than \(ControlProtocol.maxLineBytes) bytes"), close: true)
                } else {
                    resumeReading(context)
                }
                return
            }
            let length = newline - buffer.readerIndex
            let line = Data(buffer.readBytes(length: length) ?? [])
            buffer.moveReaderIndex(forwardBy: 1)
            buffer.discardReadBytes()
            handle(line, context: context)
        }
    }

    private func handle(_ line: Data, context: ChannelHandlerContext) {
        let request: ControlRequest
        do {
            request = try ControlCoding.decode(ControlRequest.self, from: line)
        } catch {
            let version = (try? JSONSerialization.jsonObject(with: line) as? [String: Any])?["v"] as? Int
            if let version, version != ControlProtocol.version {
                respond(
                    context, .failure("unsupported_version", "chatd speaks control protocol v\(ControlProtocol.version), not v\(version)"))
            } else {
                respond(context, .failure("bad_request", "not a control request: \(error)"))
            }
            return
        }
        guard request.v == ControlProtocol.version else {
            respond(
                context, .failure("unsupported_version", "chatd speaks control protocol v\(ControlProtocol.version), not v\(request.v)"))
            return
        }
        busy = true
        // The clock stops while chatd works on the request (a reload may take a while).
        idleTimer?.cancel()
        idleTimer = nil
        let server = self.server
        let loop = context.eventLoop
        let promise = loop.makePromise(of: ControlResponse.self)
        let actor = peerName
        promise.completeWithTask { await ControlCommands.handle(request, server: server, actor: actor) }
        promise.futureResult.assumeIsolated().whenSuccess { [self] response in
            busy = false
            respond(context, response)
            processLines(context)
        }
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        if readPending, !busy, !closing, context.channel.isWritable {
            readPending = false
            context.read()
        }
    }

    private func armIdleTimer(_ context: ChannelHandlerContext) {
        idleTimer?.cancel()
        let channel = context.channel
        idleTimer = context.eventLoop.scheduleTask(in: Self.idleTimeout) {
            channel.close(promise: nil)
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ message: String) {
        respond(context, .failure("permission_denied", message), close: true)
    }

    private func respond(_ context: ChannelHandlerContext, _ response: ControlResponse, close: Bool = false) {
        guard !closing, let data = try? ControlCoding.encode(response) else { return }
        let done = context.eventLoop.makePromise(of: Void.self)
        // From here the client has `idleTimeout` for its next line, or for reading this
        // response before a close (a client that does not read cannot hold the close off).
        armIdleTimer(context)
        if close {
            closing = true
            buffer = ByteBuffer()
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: data)), promise: done)
        if close {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// `struct ucred` from <sys/socket.h> (pid_t, uid_t, gid_t), which Glibc's module does not
/// export without _GNU_SOURCE; `SO_PEERCRED` fills exactly this layout.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}

/// Who may use the control socket.
enum PeerPolicy {
    static func allows(uid: uid_t, gid: gid_t, config: Config.Control) -> Bool {
        if uid == 0 || uid == getuid() || config.allowedUIDs.contains(Int(uid)) { return true }
        let user = getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } }
        for name in config.allowedGroups {
            guard let group = getgrnam(name) else { continue }
            if group.pointee.gr_gid == gid { return true }
            var member = group.pointee.gr_mem
            while let m = member?.pointee {
                if let user, String(cString: m) == user { return true }
                member = member?.advanced(by: 1)
            }
        }
        return false
    }
}

/// What each control command does.
enum ControlCommands {
    static func handle(_ request: ControlRequest, server: ChatServer, actor: String) async -> ControlResponse {
        var response = ControlResponse()
        let reason = request.reason ?? ""
        switch request.command {
        case .status:
            response.status = StatusInfo(server.status())
        case .connections:
            response.connections = await server.connections(room: request.room).map(ConnectionInfo.init)
        case .rooms:
            response.rooms = server.rooms().map(RoomInfo.init)
        case .kick:
            guard request.connection != nil || request.user != nil else {
                return .failure("bad_request", "kick needs a connection id or a user name")
            }
            let count = await server.kick(
                connection: request.connection, user: request.user,
                reason: request.reason ?? "kicked by an operator")
            let forwarded = request.user != nil && server.isClusterNode
            if forwarded { response.kickedElsewhere = true }
            guard count > 0 || forwarded else {
                return .failure(
                    "not_found", "no connection matches \(request.connection.map { "id \($0)" } ?? "user \(request.user ?? "")")")
            }
            response.kicked = count
            // Kicks are audited like the other moderation actions: the console's kick button
            // and chatctl's both leave who closed whom.
            let who = request.connection.map { "connection \($0)" } ?? "user \(request.user ?? "")"
            await server.core.moderation.record(actor: actor, action: "kick", target: "\(who): \(count) closed", reason: reason)
        case .delete:
            guard let room = request.room, let seq = request.seq else {
                return .failure("bad_request", "delete needs a room and a sequence number")
            }
            switch await server.deleteMessage(room: room, seq: seq, actor: actor, reason: reason) {
            case .success: response.deleted = 1
            case let .failure(error): return ControlResponse(ok: false, error: ControlError(error))
            }
        case .versions:
            guard let room = request.room, let seq = request.seq else {
                return .failure("bad_request", "versions needs a room and a sequence number")
            }
            switch await server.messageVersions(room: room, seq: seq) {
            case let .success(versions): response.versions = versions
            case let .failure(error): return ControlResponse(ok: false, error: ControlError(error))
            }
        case .mute, .ban:
            return await restrict(request, server: server, actor: actor)
        case .unmute, .unban:
            return await lift(request, server: server, actor: actor)
        case .mutes, .bans:
            do {
                response.restrictions = try await server.restrictions(request.command == .bans ? .ban : .mute)
            } catch {
                return .failure("unavailable", "mutes and bans cannot be read: \(error)")
            }
        case .purgeUser:
            guard let user = request.user else { return .failure("bad_request", "purge-user needs a user name") }
            switch await server.purge(user: user, actor: actor, reason: reason) {
            case let .success(count): response.deleted = count
            case let .failure(error): return ControlResponse(ok: false, error: ControlError(error))
            }
        case .audit:
            response.audit = await server.auditLog(since: request.since ?? 0)
        case .webhooks:
            guard let dispatcher = server.webhooks else { return .failure("unavailable", "no history store") }
            do {
                response.webhooks = try await dispatcher.report()
            } catch {
                return .failure("unavailable", "the webhook outbox cannot be read: \(error)")
            }
        case .webhooksRetry:
            guard let hook = request.hook, !hook.isEmpty else { return .failure("bad_request", "webhooks retry needs a hook name") }
            guard let store = server.core.hub.store else { return .failure("unavailable", "no history store") }
            do {
                let known = try await store.webhookBacklog()[hook] != nil || server.core.settings.current.webhooks[hook] != nil
                guard known else { return .failure("not_found", "no webhook \(hook): it is not configured and has no events") }
                response.retried = try await store.retryWebhooks(hook: hook, now: Date().timeIntervalSince1970)
            } catch {
                return .failure("unavailable", "the webhook outbox cannot be written: \(error)")
            }
        case .publish:
            guard let room = request.room, Sanitize.isValidRoom(room) else { return .failure("bad_request", "publish needs a room name") }
            var data: Any?
            if let json = request.data {
                guard let parsed = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else {
                    return .failure("bad_request", "the payload is not JSON")
                }
                data = parsed
            }
            let result: Result<ChatMessage, PublishRefusal>
            switch PublishRequest.make(room: room, text: request.text, data: data, maxChars: server.maxMessageChars) {
            case let .success(made): result = await server.publish(made, from: "operator")
            case let .failure(refusal): result = .failure(refusal)
            }
            switch result {
            case let .success(message): response.published = message.seq
            case let .failure(refusal):
                let code =
                    switch refusal.status {
                    case 404: "not_found"
                    case 503: "unavailable"
                    default: "bad_request"
                    }
                return .failure(code, refusal.reason)
            }
        case .reload:
            let result = await server.reload()
            response.reload = ReloadResult(result)
            if !result.ok {
                response.ok = false
                response.error = ControlError(code: "reload_failed", message: result.error ?? "reload failed")
            }
        }
        return response
    }
}

/// Another process answers on the control socket's path.
struct ControlSocketInUse: Error, CustomStringConvertible {
    let path: String
    var description: String { "another process (another chatd?) serves \(path)" }
}
