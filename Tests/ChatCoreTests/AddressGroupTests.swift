import ChatCore
import Testing

/// Per-address limits count IPv6 clients by prefix (issue 13, item 8).
@Suite struct AddressGroupTests {
    @Test func ipv6IsGroupedByItsPrefix() {
        let a = AddressGroup.key("2001:db8:1:2:aaaa::1", ipv6PrefixLength: 64)
        let b = AddressGroup.key("2001:db8:1:2:ffff:ffff:ffff:ffff", ipv6PrefixLength: 64)
        let other = AddressGroup.key("2001:db8:1:3::1", ipv6PrefixLength: 64)
        #expect(a == "2001:db8:1:2::/64")
        #expect(a == b)
        #expect(a != other)
        // Other prefix lengths, and the extremes.
        #expect(AddressGroup.key("2001:db8:1:2::1", ipv6PrefixLength: 48) == "2001:db8:1::/48")
        #expect(AddressGroup.key("2001:db8:1:2::1", ipv6PrefixLength: 56) == AddressGroup.key("2001:db8:1:ff::1", ipv6PrefixLength: 56))
        #expect(AddressGroup.key("2001:db8:1:2::1", ipv6PrefixLength: 60) != AddressGroup.key("2001:db8:1:12::1", ipv6PrefixLength: 60))
        #expect(AddressGroup.key("2001:db8::1", ipv6PrefixLength: 128) == "2001:db8::1/128")
        #expect(AddressGroup.key("2001:db8::1", ipv6PrefixLength: 0) == "::/0")
        // Out-of-range lengths are clamped, never trapped on.
        #expect(AddressGroup.key("2001:db8::1", ipv6PrefixLength: 500) == "2001:db8::1/128")
        #expect(AddressGroup.key("2001:db8::1", ipv6PrefixLength: -3) == "::/0")
        // Spellings of one address are one key.
        #expect(AddressGroup.key("[2001:DB8:0:0:1::]", ipv6PrefixLength: 64) == "2001:db8::/64")
        #expect(AddressGroup.key("fe80::1%eth0", ipv6PrefixLength: 64) == "fe80::/64")
    }

    @Test func ipv4AndMappedAddressesAreOneKeyEach() {
        #expect(AddressGroup.key("198.51.100.4", ipv6PrefixLength: 64) == "198.51.100.4")
        #expect(AddressGroup.key("198.51.100.5", ipv6PrefixLength: 64) == "198.51.100.5")
        #expect(AddressGroup.key("::ffff:198.51.100.4", ipv6PrefixLength: 64) == "198.51.100.4")
        #expect(AddressGroup.key("::ffff:c633:6404", ipv6PrefixLength: 0) == "198.51.100.4")
    }

    @Test func textThatIsNoAddressIsItsOwnKey() {
        #expect(AddressGroup.key("?", ipv6PrefixLength: 64) == "?")
        #expect(AddressGroup.key("", ipv6PrefixLength: 64) == "")
        #expect(AddressGroup.key("1::2::3", ipv6PrefixLength: 64) == "1::2::3")
    }

    @Test func formatFollowsRFC5952() {
        func f(_ s: String) -> String? { IPAddressText.parse(s).map(IPAddressText.format) }
        #expect(f("::") == "::")
        #expect(f("::1") == "::1")
        #expect(f("2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1")
        #expect(f("2001:0:0:1:0:0:0:1") == "2001:0:0:1::1")
        #expect(f("2001:db8:0:1:1:1:1:1") == "2001:db8:0:1:1:1:1:1")
        #expect(f("1:0:0:0:0:0:0:0") == "1::")
    }
}
