import ChatAuth
import ChatCore
import NIOCore

/// Token refresh in band (`refresh`, `expiring`, `refreshed`).
extension ChatSession {
    /// A `refresh`: the token is verified off the event loop; if it is for the same user it
    /// becomes the session's credential (its role and rooms apply from now on, rooms it no
    /// longer allows are left) and its expiry replaces the old one. Otherwise the client is
    /// told `refresh_rejected` and the old expiry stands.
    func refresh(token: String, nonce: String?) {
        guard let loop = context?.eventLoop else { return }
        let checkedWith = settings
        let authenticator = checkedWith.authenticator
        guard authenticator.mayBeJWT(token) else { return refuse(.refreshRejected, nonce: nonce) }
        let this = NIOLoopBound(self, eventLoop: loop)
        let promise = loop.makePromise(of: Result<Identity, AuthFailure>.self)
        promise.completeWithTask { await authenticator.identify(token) }
        promise.futureResult.whenSuccess { result in
            this.value.refreshed(token: token, result, checkedWith: checkedWith, nonce: nonce)
        }
    }

    func refreshed(token: String, _ result: Result<Identity, AuthFailure>, checkedWith: Settings, nonce: String?) {
        guard started, !closing else { return }
        // A reload came between: the token must pass the key, issuer and audience now in force.
        guard checkedWith === settings else { return refresh(token: token, nonce: nonce) }
        guard case let .success(fresh) = result, TokenRefresh.verdict(current: identity, fresh: fresh) == nil,
            let expiresAt = fresh.expiresAt
        else { return refuse(.refreshRejected, nonce: nonce) }
        credential = token
        reidentify(fresh)
        expiryNoticed = false
        scheduleExpiry()
        send(.refreshed(exp: TokenRefresh.unixSeconds(expiresAt)), flush: true)
    }
}
