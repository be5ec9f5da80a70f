public import NIOCore
public import NIOPosix

/// One raw HTTP exchange: write these bytes, read the response head and body. Used to check
/// exact statuses and that no upgrade happened.
public enum RawHTTP {
    public struct Response: Sendable {
        public var head: HTTPHead
        public var body: String
    }

    public static func exchange(
        host: String, port: Int, request: String, timeout: Duration = .seconds(5),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> Response {
        let loop = group.next()
        let mailbox = Mailbox(loop: loop)
        let done = loop.makePromise(of: HandshakeResult.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.nanoseconds(timeout.nanoseconds))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            HandshakeHandler(request: request, mailbox: mailbox, autoPong: true, promise: done)
                        )
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            done.fail(error)
            throw ClientError.connectionFailed(WebSocketClient.describe(error))
        }
        defer { channel.close(promise: nil) }
        let timer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            done.fail(ClientError.timeout("waiting for the HTTP response"))
        }
        defer { timer.cancel() }
        do {
            _ = try await done.futureResult.get()
            throw ClientError.badHandshake("the server switched protocols")
        } catch let rejected as RejectedResponse {
            // Any non-101 answer lands here, with its head and body.
            return Response(head: rejected.head, body: rejected.body)
        }
    }
}
