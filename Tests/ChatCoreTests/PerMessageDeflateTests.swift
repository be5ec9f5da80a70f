import Testing

@testable import ChatCore

@Suite struct PerMessageDeflateTests {
    let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

    /// What Chromium and Firefox offer, and what Python's websockets offers.
    @Test func browsersOffersAreAcceptedWithoutContextTakeover() {
        #expect(PerMessageDeflate.negotiate(["permessage-deflate; client_max_window_bits"])?.response == both)
        #expect(PerMessageDeflate.negotiate(["permessage-deflate"]) == .init(serverWindowBits: 15, response: both))
        #expect(
            PerMessageDeflate.negotiate(["permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"])
                == .init(serverWindowBits: 12, response: both + "; server_max_window_bits=12"))
        #expect(PerMessageDeflate.negotiate(["permessage-deflate; server_max_window_bits=\"10\""])?.serverWindowBits == 10)
    }

    @Test func theFirstAcceptableOfferWins() {
        let offers = [
            "x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=11",
        ]
        #expect(PerMessageDeflate.negotiate(offers)?.serverWindowBits == 11)
        #expect(PerMessageDeflate.negotiate(["foo, bar"]) == nil)
        #expect(PerMessageDeflate.negotiate([]) == nil)
    }

    @Test func badOffersAreDeclined() {
        for offer in [
            "permessage-deflate; server_max_window_bits", "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=09", "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1", "permessage-deflate; unknown",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=8", "permessage-deflate; =", "permessage-deflate;;",
            "permessage-deflate; server_max_window_bits=\"",
            "permessage-deflate; server_max_window_bits==10",
        ] {
            #expect(PerMessageDeflate.negotiate([offer]) == nil, "\(offer)")
        }
    }

    /// The header is the client's (up to limits.max_header_bytes): at most 16 offers are
    /// looked at, and an offer with more than the extension's four parameters is declined.
    @Test func aHugeHeaderIsCutShort() {
        let bogus = Array(repeating: "permessage-deflate; bogus", count: 16)
        #expect(PerMessageDeflate.negotiate([(bogus + ["permessage-deflate"]).joined(separator: ", ")]) == nil)
        #expect(PerMessageDeflate.negotiate([(bogus.dropLast() + ["permessage-deflate"]).joined(separator: ", ")]) != nil)
        #expect(PerMessageDeflate.negotiate(["permessage-deflate" + String(repeating: "; client_max_window_bits", count: 5)]) == nil)
        #expect(PerMessageDeflate.negotiate(["permessage-deflate; x=\"" + String(repeating: "a", count: 100_000) + "\""]) == nil)
    }
}
