import ChatCore
import NIOCore

/// The part of a session that is needed only now and then: a frame cut across reads, a ping
/// or close answered late, the closing deadline, a credential's expiry, webhook events held
/// back. It is made when one of them is set and let go when all are back at rest, so an idle
/// connection holds none of it (150 bytes per connection, BENCHMARKS.md, issue 15).
final class SessionRare {
    var deferredPong: ByteBuffer?
    var hardClose: Scheduled<Void>?
    var expiry: Scheduled<Void>?
    var expiryNoticed = false
    var partialFrame: ByteBuffer?
    var inputBroken = false
    var deferredClose: ByteBuffer?
    var framesWhileClosing = 0
    var deferredWebhookEvents: [WebhookEvent] = []

    var atRest: Bool {
        deferredPong == nil && hardClose == nil && expiry == nil && !expiryNoticed && partialFrame == nil && !inputBroken
            && deferredClose == nil && framesWhileClosing == 0 && deferredWebhookEvents.isEmpty
    }
}

extension ChatSession {
    /// Sets one rare field: makes the rare part if the value needs it, lets it go if every
    /// field is back at rest.
    private func setRare(_ isRest: Bool, _ set: (SessionRare) -> Void) {
        if let rare {
            set(rare)
            if isRest && rare.atRest { self.rare = nil }
        } else if !isRest {
            let made = SessionRare()
            set(made)
            rare = made
        }
    }

    var deferredPong: ByteBuffer? {
        get { rare?.deferredPong }
        set { setRare(newValue == nil) { $0.deferredPong = newValue } }
    }

    /// Closes the TCP connection if the closing handshake takes longer than `closeGrace`.
    var hardClose: Scheduled<Void>? {
        get { rare?.hardClose }
        set { setRare(newValue == nil) { $0.hardClose = newValue } }
    }

    /// The credential's expiry timer: first `expiring`, then the end (`TokenRefresh`).
    var expiry: Scheduled<Void>? {
        get { rare?.expiry }
        set { setRare(newValue == nil) { $0.expiry = newValue } }
    }

    /// `expiring` was sent for the credential in force.
    var expiryNoticed: Bool {
        get { rare?.expiryNoticed ?? false }
        set { setRare(!newValue) { $0.expiryNoticed = newValue } }
    }

    /// The start of a frame whose rest has not arrived; nil between frames, so an idle
    /// connection holds no input buffer.
    var partialFrame: ByteBuffer? {
        get { rare?.partialFrame }
        set { setRare(newValue == nil) { $0.partialFrame = newValue } }
    }

    /// Set when the input stopped being a WebSocket stream (a protocol error): nothing after
    /// it is parsed.
    var inputBroken: Bool {
        get { rare?.inputBroken ?? false }
        set { setRare(!newValue) { $0.inputBroken = newValue } }
    }

    /// A client's close that arrived while its earlier requests waited: answered once they are.
    var deferredClose: ByteBuffer? {
        get { rare?.deferredClose }
        set { setRare(newValue == nil) { $0.deferredClose = newValue } }
    }

    /// Frames received since closing started (`ConnectionBounds.framesWhileClosing`).
    var framesWhileClosing: Int {
        get { rare?.framesWhileClosing ?? 0 }
        set { setRare(newValue == 0) { $0.framesWhileClosing = newValue } }
    }

    /// Webhook events of a leave that came while a message was still on its way to the
    /// committer (`Hub.tellWebhooks`): handed over after it.
    var deferredWebhookEvents: [WebhookEvent] {
        get { rare?.deferredWebhookEvents ?? [] }
        set { setRare(newValue.isEmpty) { $0.deferredWebhookEvents = newValue } }
    }
}
