import ChatCore
import NIOCore
import NIOHTTP1

/// Plain HTTP: the page, /healthz, /readyz, /api/openapi.yaml, and the answers to refused
/// upgrades. A request that the WebSocket upgrader accepted never reaches this handler; one
/// it refused arrives here as an ordinary request, and the gate is asked again which status
/// it gets.
///
/// Requests of a kept-alive connection are answered one at a time and only while the socket
/// takes them: a complete request that finds the socket behind waits (the read gate then
/// hands on nothing more) until it drains, so a client that pipelines without reading costs
/// one answer in flight, not one per request.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "chatd.http"

    private let server: ServerCore
    private let state: ConnectionState
    /// `/api/admin/...`; nil answers those paths 404 (handler tests without a server).
    private let admin: AdminAPI?
    private var head: HTTPRequestHead?
    /// The body of a `POST /api/publish` or `/api/admin/actions`, bounded by `api.max_body_bytes`.
    private var body: ByteBuffer?
    private var bodyTooLarge = false
    /// A complete request waiting for the socket to drain.
    private var waiting: (head: HTTPRequestHead, body: ByteBuffer?, tooLarge: Bool)?

    init(server: ServerCore, state: ConnectionState = ConnectionState(), admin: AdminAPI? = nil) {
        self.server = server
        self.state = state
        self.admin = admin
    }

    /// The requests whose body is read: the others' is skipped.
    private static func takesBody(_ head: HTTPRequestHead) -> Bool {
        guard head.method == .POST else { return false }
        let path = QueryString.split(target: head.uri).path
        return path == PublishEndpoint.path || path == AdminPolicy.prefix + AdminPolicy.Endpoint.actions.rawValue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(h):
            head = h
            body = nil
            bodyTooLarge = false
            guard Self.takesBody(h) else { return }
            let limit = server.settings.current.maxBodyBytes
            if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                // Refused before the body is read; the connection closes, so the rest is never taken in.
                head = nil
                bodyTooLarge = true
                state.stopIdleTimer()
                let publish = QueryString.split(target: h.uri).path == PublishEndpoint.path
                return reply(context, h, PublishEndpoint.tooLarge(limit: limit), close: true, metric: publish)
            }
            body = context.channel.allocator.buffer(capacity: 0)
        case var .body(chunk):
            guard let h = head, !bodyTooLarge, body != nil else { return }
            let limit = server.settings.current.maxBodyBytes
            if body!.readableBytes + chunk.readableBytes > limit {
                // A chunked body past the limit is answered at once, as a declared length
                // is; the connection closes, so the rest of it is never taken in.
                head = nil
                bodyTooLarge = true
                body = nil
                state.stopIdleTimer()
                let publish = QueryString.split(target: h.uri).path == PublishEndpoint.path
                return reply(context, h, PublishEndpoint.tooLarge(limit: limit), close: true, metric: publish)
            }
            body!.writeBuffer(&chunk)
        case .end:
            guard let h = head else { return }
            head = nil
            // Complete: nothing more is decoded until it is answered (a body still coming
            // must be let through, so the gate waits for the whole request, not its head).
            state.busy = true
            let complete = (head: h, body: body, tooLarge: bodyTooLarge)
            body = nil
            guard context.channel.isWritable else {
                // Answered once the socket drains (channelWritabilityChanged); the idle
                // timer keeps running, so a client that never reads is closed in time.
                waiting = complete
                return
            }
            if state.answeredThisSlice, let pacer = state.pacer {
                // A pipelined request: the read gate's slice (or the pipeline handler's
                // buffer) already had one answered. Answering every request of it now would
                // chain answer after answer — inside the decoder's loop over the slice, or a
                // publish's answer after a commit, which comes back as a task — and the loop
                // would not get back to its other sockets: the loop's pacer answers it.
                pacer.enqueue { [self] in
                    guard context.channel.isActive else { return }
                    answer(complete, context: context)
                }
                return
            }
            state.answeredThisSlice = true
            answer(complete, context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable, let request = waiting {
            waiting = nil
            answer(request, context: context)
        }
    }

    /// Requests answered on one connection before it is closed (`Connection: close` on the
    /// last), as nginx's `keepalive_requests` does: HTTP clients and nginx's upstream pool
    /// open another, and a client that pipelines without end is cut off after this many
    /// answers, whatever its socket's buffers hold.
    static let requestsPerConnection = 1000
    private static let openAPIBody = ByteBuffer(string: OpenAPIDocument.yaml + "\n")
    private var answered = 0

    private func answer(_ request: (head: HTTPRequestHead, body: ByteBuffer?, tooLarge: Bool), context: ChannelHandlerContext) {
        state.stopIdleTimer()
        let h = request.head
        let path = QueryString.split(target: h.uri).path
        if let admin, AdminAPI.handles(path: path) {
            let this = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let address = server.settings.current.trustedProxies.clientAddress(
                peer: context.channel.remoteAddress?.ipAddress ?? "?", forwardedFor: h.headers["x-forwarded-for"])
            admin.answer(h, body: request.body, tooLarge: request.tooLarge, address: address) { answer in
                loop.execute { this.value.0.reply(this.value.1, h, answer, close: false, metric: false) }
            }
            return
        }
        if path == PublishEndpoint.path {
            if request.tooLarge {
                return reply(context, h, PublishEndpoint.tooLarge(limit: server.settings.current.maxBodyBytes), close: true)
            }
            let this = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let current = server.settings.current
            let address = current.trustedProxies.clientAddress(
                peer: context.channel.remoteAddress?.ipAddress ?? "?", forwardedFor: h.headers["x-forwarded-for"])
            PublishEndpoint.answer(h, body: request.body, address: address, server: server) { answer in
                loop.execute { this.value.0.reply(this.value.1, h, answer, close: false) }
            }
            return
        }
        respond(to: h, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Upgrade-attempt failures are reported here before the request is passed on; the
        // request itself still arrives and is answered. Anything else ends the connection.
        if error is WebSocketUpgrader.Declined || error is HTTPServerUpgradeErrors { return }
        context.close(promise: nil)
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (path, _) = QueryString.split(target: head.uri)
        if path == UpgradeGate.chatPath {
            respondToChat(head, context: context)
            return
        }
        let isRead = head.method == .GET || head.method == .HEAD
        if path == "/healthz" {
            guard isRead else {
                return send(context, head, status: .methodNotAllowed, text: "method not allowed", extra: [("Allow", "GET, HEAD")])
            }
            var w = JSONWriter()
            w.beginObject()
            w.field("ok", true)
            w.field("clients", server.hub.connections.load(ordering: .relaxed))
            w.endObject()
            return send(
                context, head, status: .ok, body: ByteBuffer(bytes: w.bytes), type: "application/json",
                extra: [("Cache-Control", "no-store")])
        }
        if path == "/readyz" {
            guard isRead else {
                return send(context, head, status: .methodNotAllowed, text: "method not allowed", extra: [("Allow", "GET, HEAD")])
            }
            let ready = server.ready.load(ordering: .relaxed)
            var w = JSONWriter()
            w.beginObject()
            w.field("ready", ready)
            w.endObject()
            return send(
                context, head, status: ready ? .ok : .serviceUnavailable, body: ByteBuffer(bytes: w.bytes),
                type: "application/json", extra: [("Cache-Control", "no-store")])
        }
        if path == OpenAPIDocument.path {
            guard isRead else {
                return send(context, head, status: .methodNotAllowed, text: "method not allowed", extra: [("Allow", "GET, HEAD")])
            }
            return send(
                context, head, status: .ok, body: Self.openAPIBody, type: "application/yaml; charset=utf-8",
                extra: [("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff")])
        }
        if let file = server.site.file(at: path) {
            guard isRead else {
                return send(context, head, status: .methodNotAllowed, text: "method not allowed", extra: [("Allow", "GET, HEAD")])
            }
            var extra = [
                ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
            ]
            if file.contentType.hasPrefix("text/html") {
                extra.append(("Content-Security-Policy", Self.contentSecurityPolicy(host: head.headers.first(name: "host"), page: file)))
                extra.append(("X-Frame-Options", "DENY"))
            }
            return send(context, head, status: .ok, body: file.body, type: file.contentType, extra: extra)
        }
        // An upgrade attempt on another path is refused like those on /chat: closed after.
        let upgradeAttempt = UpgradeGate.Request(head).wantsWebSocket
        send(
            context, head, status: .notFound, text: "not found", extra: upgradeAttempt ? [("Connection", "close")] : [],
            close: upgradeAttempt)
    }

    private func respondToChat(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        if let refusal = state.refusal {
            let (status, reason): (HTTPResponseStatus, String) =
                switch refusal {
                case let .tooMany(why): (.tooManyRequests, why)
                case .full: (.serviceUnavailable, "server full: reconnect later")
                }
            server.metrics.upgrades(String(status.code)).increment()
            return send(context, head, status: status, text: reason, extra: [("Connection", "close"), ("Retry-After", "10")], close: true)
        }
        var decision = server.settings.current.gate.decide(UpgradeGate.Request(head))
        if case .accept = decision, let (status, reason) = state.rejection {
            decision = .reject(status: status, reason: reason)
        }
        switch decision {
        case let .reject(status, reason):
            server.metrics.upgrades(String(status)).increment()
            var extra: [(String, String)] = [("Connection", "close")]
            if status == 426 { extra.append(("Upgrade", "websocket")) }
            if status == 405 { extra.append(("Allow", "GET")) }
            if status == 503 { extra.append(("Retry-After", "5")) }
            server.logger.info(
                "upgrade refused",
                metadata: [
                    "status": "\(status)", "path": "\(UpgradeGate.chatPath)",
                    "reason": "\(reason)",
                ])
            send(context, head, status: HTTPResponseStatus(statusCode: status), text: reason, extra: extra, close: true)
        case let .accept(session) where session.echo && !server.settings.current.echoEnabled:
            server.metrics.upgrades("404").increment()
            send(
                context, head, status: .notFound, text: "the echo endpoint is disabled (server.echo_endpoint)",
                extra: [("Connection", "close")], close: true)
        case .accept where server.draining.load(ordering: .relaxed):
            server.metrics.upgrades("503").increment()
            send(
                context, head, status: .serviceUnavailable, text: "shutting down: reconnect later",
                extra: [("Connection", "close"), ("Retry-After", "5")], close: true)
        case .accept:
            server.metrics.upgrades("400").increment()
            // The gate would accept, yet the upgrader did not: the WebSocket handshake itself
            // is malformed (no Sec-WebSocket-Key, or a version other than 13).
            send(
                context, head, status: .badRequest, text: "bad WebSocket handshake (need Sec-WebSocket-Key and Sec-WebSocket-Version: 13)",
                extra: [("Connection", "close"), ("Sec-WebSocket-Version", "13")], close: true)
        }
    }

    private func reply(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ answer: PublishEndpoint.Answer, close: Bool, metric: Bool = true
    ) {
        if metric { server.metrics.publishRequests(String(answer.status.code)).increment() }
        send(
            context, head, status: answer.status, body: ByteBuffer(bytes: answer.json), type: "application/json",
            extra: answer.headers + [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")], close: close)
    }

    static func contentSecurityPolicy(host: String?, page: StaticSite.File) -> String {
        var connect = "'self'"
        if let host, !host.isEmpty, host.utf8.count < 256,
            host.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || ".-:[]".unicodeScalars.contains($0)
            })
        {
            connect += " ws://\(host) wss://\(host)"
        }
        let scripts = (["'self'"] + page.scriptHashes).joined(separator: " ")
        let styles = (["'self'"] + page.styleHashes).joined(separator: " ")
        return
            "default-src 'none'; script-src \(scripts); style-src \(styles); img-src 'self' data:; connect-src \(connect); base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }

    private func send(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, status: HTTPResponseStatus, text: String,
        extra: [(String, String)] = [], close: Bool = false
    ) {
        send(
            context, head, status: status, body: ByteBuffer(string: text + "\n"), type: "text/plain; charset=utf-8",
            extra: extra, close: close)
    }

    private func send(
        _ context: ChannelHandlerContext, _ head: HTTPRequestHead, status: HTTPResponseStatus, body: ByteBuffer,
        type: String, extra: [(String, String)] = [], close: Bool = false
    ) {
        answered += 1
        let keepAlive = head.isKeepAlive && !close && answered < Self.requestsPerConnection
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Server", value: "chatd")
        for (name, value) in extra where name != "Connection" { headers.add(name: name, value: value) }
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        // Everything about this request is settled before its `.end` is written: writing it
        // hands this handler the next pipelined request at once (HTTPServerPipelineHandler).
        state.newRequest()
        state.busy = false
        if keepAlive {
            // NIO's upgrader leaves after a connection's first request; a fresh one sees the
            // next, so an upgrade on a kept-alive connection (nginx's upstream pool) works.
            state.armUpgrade?()
            state.rearmIdleTimer(channel: context.channel)
        }
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        } else {
            state.gate?.resume()
        }
    }
}

extension UpgradeGate.Request {
    init(_ head: HTTPRequestHead) {
        let upgrade = head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
        self.init(
            method: head.method.rawValue,
            target: head.uri,
            origin: head.headers.first(name: "origin"),
            authorization: head.headers.first(name: "authorization"),
            protocols: head.headers[canonicalForm: "sec-websocket-protocol"].map(String.init),
            wantsWebSocket: upgrade
        )
    }
}
