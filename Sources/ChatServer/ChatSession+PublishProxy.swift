import ChatCore
import NIOCore

/// A client's message checked by the application's backend before it is stored
/// (`proxy.publish_url`, docs/integration.md).
extension ChatSession {
    /// What a text the backend accepted goes into.
    enum Checked: Sendable {
        case message(nonce: String?, replyTo: UInt64?)
        /// `actor` as `publishEdit` takes it.
        case edit(of: ChatMessage, actor: String?)
    }

    /// `proxy.publish_url` decides first. The session's later requests wait meanwhile (as
    /// for a store read), so its messages are stored in the order it sent them, and a client
    /// sending faster than the backend answers stops being read.
    func askPublishProxy(_ text: String, in room: String, for use: Checked) {
        guard let loop = context?.eventLoop else { return }
        awaitingStore = true
        let this = NIOLoopBound(self, eventLoop: loop)
        let current = settings
        let request = BackendProxy.PublishRequest(
            room: room, user: UserTarget.shown(userKey: identity.userKey, authorKey: authorKey), name: name, text: text,
            address: address, edit: { if case let .edit(target, _) = use { target.seq } else { nil } }())
        let backend = self.backend
        Task {
            let answer =
                await backend?.post(current.publishURL, json: request.body, timeout: current.proxyTimeout)
                ?? .failure(BackendFailure("no HTTP client"))
            let verdict: BackendProxy.PublishVerdict =
                switch answer {
                case let .success(answer):
                    BackendProxy.publishVerdict(
                        status: answer.status, body: answer.body, request: request, maxChars: current.maxMessageChars)
                case let .failure(failure): .unavailable(detail: failure.description)
                }
            loop.execute {
                this.value.publishChecked(verdict, request: request, for: use, settings: current)
            }
        }
    }

    func publishChecked(
        _ verdict: BackendProxy.PublishVerdict, request: BackendProxy.PublishRequest, for use: Checked, settings checked: Settings
    ) {
        awaitingStore = false
        guard let context else { return }
        defer { resumeReadingIfDue(context) }
        guard !closing else { return }
        let metrics = hub.metrics
        switch verdict {
        case let .accept(text):
            metrics.proxyRequests("publish", text == request.text ? "accept" : "rewrite").increment()
            // The room may have been left, or its sender muted, while the backend decided.
            guard roomList.contains(request.room) else { return refuse(.notJoined) }
            if moderation.isMuted(userKey: identity.userKey, authorKey: authorKey) { return refuse(.muted) }
            carryOut(use, text: text, in: request.room)
        case let .reject(reason):
            metrics.proxyRequests("publish", "reject").increment()
            metrics.errors(ErrorCode.rejected.rawValue).increment()
            send(.error(code: .rejected, message: reason, nonce: answering), flush: true)
        case let .unavailable(detail):
            metrics.proxyRequests("publish", "unavailable").increment()
            backend?.logger.warning(
                "publish proxy gave no usable answer",
                metadata: ["url": "\(checked.publishURL)", "detail": "\(detail)", "accepted": "\(checked.acceptOnProxyError)"])
            guard checked.acceptOnProxyError else { return refuse(.proxyUnavailable) }
            guard roomList.contains(request.room) else { return refuse(.notJoined) }
            if moderation.isMuted(userKey: identity.userKey, authorKey: authorKey) { return refuse(.muted) }
            carryOut(use, text: request.text, in: request.room)
        }
    }

    private func carryOut(_ use: Checked, text: String, in room: String) {
        switch use {
        case let .message(nonce, replyTo): publish(text, in: room, nonce: nonce, replyTo: replyTo)
        case let .edit(target, actor): publishEdit(of: target, text: text, actor: actor)
        }
    }
}
