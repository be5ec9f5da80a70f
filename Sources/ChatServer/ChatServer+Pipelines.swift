import ChatAuth
import ChatConfig
import ChatCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The channel pipelines of the chat and metrics listeners.
extension ChatServer {
    func chatBootstrap() -> ServerBootstrap {
        let core = self.core
        let admin = AdminAPI(server: self)
        // Refusals at accept are counted from the start, at zero, so dashboards see them.
        for reason in [ClientLimits.PendingRefusal.perAddress, .total] { core.refusedAtAccept(reason, count: 0) }
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            // NIO's default: one read pass takes at most 4 × 64 KiB, so a client sending a
            // flood of tiny frames holds its loop's other connections up for one such pass
            // before it is refused and cut off (16 let a pass decode 150,000 frames).
            .childChannelOption(.maxMessagesPerRead, value: Self.maxMessagesPerRead)
            // Each connection keeps its last receive buffer for reuse; chat frames are small,
            // so start at 256 bytes (it grows with traffic) rather than NIO's 2048: idle
            // connections then cost ~1.5 KiB less each (chatbench idle).
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, core: core, admin: admin)
                }
            }
    }

    /// Reads per read pass on a chat connection (see `chatBootstrap`).
    static let maxMessagesPerRead: UInt = 4

    func metricsBootstrap() -> ServerBootstrap {
        let core = self.core
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let settings = core.settings.current
                    try channel.syncOptions?.setOption(.writeBufferWaterMark, value: settings.sendBuffer)
                    let state = ConnectionState()
                    state.armIdleTimer(channel: channel, timeout: settings.handshakeTimeout)
                    let ops = channel.pipeline.syncOperations
                    try ops.configureHTTPServerPipeline(withErrorHandling: true)
                    try ops.addHandler(MetricsHandler(metrics: core.metrics, state: state))
                    // A scrape costs far more than a static file: a few per event-loop turn.
                    state.pacer = core.hub.pacer(of: channel.eventLoop)
                    let gate = HTTPReadGate(sliceBytes: 256, pacer: state.pacer)
                    gate.downstreamBusy = { state.busy }
                    state.gate = gate
                    try ops.addHandler(gate, position: .first)
                    channel.closeFuture.whenComplete { _ in state.release() }
                }
            }
    }

    /// A new chat connection's pipeline: the read gate, NIO's HTTP server handlers with the
    /// WebSocket upgrader, and chatd's HTTP handler. Over the pending caps
    /// (`limits.max_pending_connections`, `limits.max_pending_per_ip`) it is closed at once.
    private static func configure(_ channel: any Channel, core: ServerCore, admin: AdminAPI) throws {
        let settings = core.settings.current
        let peer = channel.remoteAddress?.ipAddress ?? "?"
        // A trusted proxy carries many clients on its one address: only the total caps it.
        let capped = !settings.trustedProxies.isTrusted(peer)
        if let refused = core.limits.countPending(
            peer: peer, capped: capped, settings: settings,
            now: NIODeadline.now().uptimeNanoseconds)
        {
            core.refusedAtAccept(refused)
            throw PendingLimitReached(reason: refused)
        }
        let state = ConnectionState()
        let end = ConnectionEnd(peer: peer, limits: core.limits, handshake: state)
        channel.closeFuture.whenComplete { _ in end.closed() }
        try channel.syncOptions?.setOption(.writeBufferWaterMark, value: settings.sendBuffer)
        state.armIdleTimer(channel: channel, timeout: settings.handshakeTimeout)
        let upgrader = WebSocketUpgrader(
            shouldUpgrade: { channel, head in
                // Each request of a kept-alive connection is decided afresh. The gate hands
                // on nothing more until the upgrade is done or refused (a GET's end is parsed
                // with its head); the idle clock runs on until the upgrade is done.
                state.newRequest()
                state.busy = true
                let current = core.settings.current
                let decision = current.gate.decide(UpgradeGate.Request(head))
                switch decision {
                case .accept, .reject(status: 401, _), .reject(status: 403, _):
                    // Every attempt on /chat counts against its address, refused ones too,
                    // which is what slows token guessing.
                    state.address = current.trustedProxies.clientAddress(
                        peer: channel.remoteAddress?.ipAddress ?? "?", forwardedFor: head.headers["x-forwarded-for"])
                    state.refusal = core.limits.countUpgrade(
                        address: state.address, total: core.hub.connections.load(ordering: .relaxed),
                        settings: current, now: NIODeadline.now().uptimeNanoseconds)
                default:
                    break
                }
                guard state.refusal == nil, case let .accept(attempt) = decision, !attempt.echo || current.echoEnabled,
                    !core.draining.load(ordering: .relaxed)
                else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                let authenticator = current.authenticator
                let extensions = head.headers["sec-websocket-extensions"]
                if attempt.proxied {
                    // No token: the application's backend says who this is (`proxy.connect_url`).
                    let request = BackendProxy.ConnectRequest(
                        address: state.address, origin: head.headers.first(name: "origin") ?? "", room: attempt.room,
                        name: attempt.guestName, headers: Self.forwarded(head.headers, names: current.forwardHeaders))
                    let promise = channel.eventLoop.makePromise(of: Result<Identity, UpgradeRefusal>.self)
                    promise.completeWithTask { await core.askConnectProxy(request, settings: current) }
                    return promise.futureResult.map {
                        Self.upgradeAnswer(
                            attempt, $0, extensions: extensions, settings: current, state: state, moderation: core.moderation)
                    }
                }
                if let identity = authenticator.staticIdentity(attempt.credential) {
                    return channel.eventLoop.makeSucceededFuture(
                        Self.upgradeAnswer(
                            attempt, .success(identity), extensions: extensions, settings: current, state: state,
                            moderation: core.moderation))
                }
                guard authenticator.mayBeJWT(attempt.credential) else {
                    return channel.eventLoop.makeSucceededFuture(
                        Self.upgradeAnswer(
                            attempt, .failure(UpgradeRefusal(AuthFailure.unknownToken)), extensions: extensions, settings: current,
                            state: state, moderation: core.moderation))
                }
                // A JWT: its signature is checked in a task, off the event loop.
                let promise = channel.eventLoop.makePromise(of: Result<Identity, UpgradeRefusal>.self)
                promise.completeWithTask { await authenticator.identify(attempt.credential).mapError(UpgradeRefusal.init) }
                return promise.futureResult.map {
                    Self.upgradeAnswer(attempt, $0, extensions: extensions, settings: current, state: state, moderation: core.moderation)
                }
            },
            upgraded: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let current = core.settings.current
                    guard let session = state.session else { throw ChannelError.inappropriateOperationForState }
                    // The session is the upgraded connection's one handler: it parses the
                    // client's frames and writes chatd's (encoded once per broadcast).
                    let ops = channel.pipeline.syncOperations
                    end.endPending()
                    try ops.addHandler(
                        ChatSession(
                            session: session, address: state.address, hub: core.hub,
                            moderation: core.moderation, limits: core.limits, settings: current,
                            deflateWindowBits: state.deflateWindowBits, backend: core.backend))
                    // The gate leaves last: what it still holds (frames sent right behind the
                    // upgrade request) goes on to the session, in order.
                    if let gate = state.gate { ops.removeHandler(gate, promise: nil) }
                    state.upgraded()
                    end.upgraded()
                    // NIO keeps the receive buffers it allocated for reuse, up to one per read
                    // of a pass; a request head longer than the first 256-byte read leaves it
                    // holding a second, larger one for the connection's life (0.7 KiB per idle
                    // connection for a 300-byte head; browsers send 500–900). Dropping to one
                    // read per pass and back trims the pool to its first, smallest buffer.
                    if let options = channel.syncOptions {
                        try options.setOption(.maxMessagesPerRead, value: 1)
                        try options.setOption(.maxMessagesPerRead, value: Self.maxMessagesPerRead)
                    }
                    core.metrics.upgrades("accepted").increment()
                    core.logger.debug("websocket open", metadata: ["room": "\(session.room)", "name": "\(session.name)"])
                }
            }
        )
        let completion: @Sendable (ChannelHandlerContext) -> Void = { context in
            _ = context.pipeline.syncOperations.removeHandler(name: HTTPHandler.name)
        }
        let ops = channel.pipeline.syncOperations
        try ops.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: completion),
            withErrorHandling: true,
            withOutboundHeaderValidation: true,
            withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: settings.decoderLimits
        )
        // What a later upgrader needs: the handlers NIO's first one removes when it upgrades.
        let encoder = try ops.handler(type: HTTPResponseEncoder.self)
        let extra: [any RemovableChannelHandler] = [
            try ops.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self),
            try ops.handler(type: HTTPServerPipelineHandler.self),
            try ops.handler(type: NIOHTTPResponseHeadersValidator.self),
            try ops.handler(type: HTTPServerProtocolErrorHandler.self),
        ]
        let http = HTTPHandler(server: core, state: state, admin: admin)
        try ops.addHandler(http, name: HTTPHandler.name)
        state.armUpgrade = { [weak http] in
            guard let http else { return }
            // NIO's upgrade handler leaves after the first request; each later request of a
            // kept-alive connection gets a fresh one, in front of the HTTP handler.
            guard (try? ops.context(handlerType: HTTPServerUpgradeHandler.self)) == nil else { return }
            try? ops.addHandler(
                HTTPServerUpgradeHandler(
                    upgraders: [upgrader], httpEncoder: encoder, extraHTTPHandlers: extra,
                    upgradeCompletionHandler: completion),
                position: .before(http))
        }
        state.pacer = core.hub.pacer(of: channel.eventLoop)
        let gate = HTTPReadGate(pacer: state.pacer)
        gate.downstreamBusy = { state.busy }
        gate.sliceStarted = { state.answeredThisSlice = false }
        state.gate = gate
        try ops.addHandler(gate, position: .first)
    }

    /// The upgrader's answer once the credential is resolved: headers to upgrade with (the
    /// chosen subprotocol), or nil with the refusal left for the HTTP handler to send.
    private static func upgradeAnswer(
        _ attempt: UpgradeGate.Attempt, _ identified: Result<Identity, UpgradeRefusal>, extensions: [String],
        settings: Settings, state: ConnectionState, moderation: Moderation
    ) -> HTTPHeaders? {
        let admitted: UpgradeGate.Decision<UpgradeGate.Session> =
            switch identified {
            case let .success(identity): UpgradeGate.admit(attempt, as: identity, rule: settings.rules.rule(for: attempt.room))
            case let .failure(refusal): .reject(status: refusal.status, reason: refusal.reason)
            }
        switch admitted {
        case let .accept(session) where moderation.isBanned(userKey: session.identity.userKey, authorKey: session.identity.authorKey):
            state.rejection = (403, Self.bannedReason)
            return nil
        case let .accept(session):
            state.session = session
            var headers = HTTPHeaders()
            if attempt.subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: UpgradeGate.subprotocol) }
            state.deflateWindowBits = 0
            if settings.config.compression.enabled, let agreement = PerMessageDeflate.negotiate(extensions) {
                state.deflateWindowBits = agreement.serverWindowBits
                headers.add(name: "Sec-WebSocket-Extensions", value: agreement.response)
            }
            return headers
        case let .reject(status, reason):
            state.rejection = (status, reason)
            return nil
        }
    }

    /// What a banned identity's upgrade is refused with (403).
    static let bannedReason = "banned: this identity may not connect"

    /// The request's headers named in `proxy.forward_headers`, in that order; a header sent
    /// more than once is joined as HTTP joins it (`; ` for cookies, `, ` otherwise).
    static func forwarded(_ headers: HTTPHeaders, names: [String]) -> [(name: String, value: String)] {
        names.compactMap { name in
            let values = headers[name]
            guard !values.isEmpty else { return nil }
            return (name, values.joined(separator: name == "cookie" ? "; " : ", "))
        }
    }
}

/// Why an upgrade is refused once its credential was looked at: the status and the reason
/// the client reads.
struct UpgradeRefusal: Error, Sendable {
    let status: Int
    let reason: String

    init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    init(_ failure: AuthFailure) { self.init(status: 401, reason: failure.reason) }
}

extension ServerCore {
    /// Asks `proxy.connect_url` who an upgrade without a token is; logs and counts the answer.
    func askConnectProxy(_ request: BackendProxy.ConnectRequest, settings: Settings) async -> Result<Identity, UpgradeRefusal> {
        let answer = await backend.post(settings.connectURL, json: request.body, timeout: settings.proxyTimeout)
        let verdict: BackendProxy.ConnectVerdict
        switch answer {
        case let .success(answer):
            verdict = BackendProxy.connectVerdict(status: answer.status, body: answer.body, now: Date().timeIntervalSince1970)
        case let .failure(failure):
            verdict = .unavailable(detail: failure.description)
        }
        switch verdict {
        case let .admit(identity):
            metrics.proxyRequests("connect", "admit").increment()
            return .success(identity)
        case let .refuse(status, reason):
            metrics.proxyRequests("connect", "refuse").increment()
            return .failure(UpgradeRefusal(status: status, reason: reason))
        case let .unavailable(detail):
            metrics.proxyRequests("connect", "unavailable").increment()
            logger.warning("connect proxy gave no usable answer", metadata: ["url": "\(settings.connectURL)", "detail": "\(detail)"])
            return .failure(UpgradeRefusal(status: 503, reason: "the application could not be asked: reconnect later"))
        }
    }
}
