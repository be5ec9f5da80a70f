import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// The WebSocket opening handshake (RFC 6455 4.2) for NIO's HTTP upgrade handler, without
/// NIO's WebSocket frame handlers: `upgraded` leaves the connection to one handler of
/// chatd's own. Whether to upgrade at all is `shouldUpgrade`'s decision.
struct WebSocketUpgrader: HTTPServerProtocolUpgrader, Sendable {
    /// A handshake this upgrader does not take; the HTTP handler answers the request.
    struct Declined: Error {}

    let supportedProtocol = "websocket"
    /// Headers the request's `Connection` header must name: none (the key and version are
    /// checked below).
    let requiredUpgradeHeaders: [String] = []
    /// Extra response headers to upgrade with, or nil to decline.
    let shouldUpgrade: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>
    let upgraded: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<Void>

    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
    static func accept(key: String) -> String {
        Data(Insecure.SHA1.hash(data: Array((key + acceptGUID).utf8))).base64EncodedString()
    }

    func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        // One key and version 13, as NIO's own upgrader asked: values trimmed of the spaces
        // and tabs HTTP allows around them (RFC 9110 5.5), the key not empty and not a list.
        let keys = upgradeRequest.headers["sec-websocket-key"].map(Self.trimmed)
        let versions = upgradeRequest.headers["sec-websocket-version"].map(Self.trimmed)
        guard keys.count == 1, versions == ["13"], let key = keys.first, !key.isEmpty, !key.contains(",") else {
            return channel.eventLoop.makeFailedFuture(Declined())
        }
        return shouldUpgrade(channel, upgradeRequest).flatMapThrowing { extra in
            guard var headers = extra else { throw Declined() }
            headers.replaceOrAdd(name: "Upgrade", value: "websocket")
            headers.add(name: "Sec-WebSocket-Accept", value: Self.accept(key: key))
            headers.replaceOrAdd(name: "Connection", value: "upgrade")
            return headers
        }
    }

    /// A header value without the spaces and tabs HTTP allows around it (RFC 9110 5.5).
    static func trimmed(_ value: String) -> String {
        String(value.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        upgraded(context.channel, upgradeRequest)
    }
}
