import ChatCore
import Testing

@Suite struct RandomIDTests {
    @Test func aVersion4UUIDInLowercase() {
        for _ in 0..<1000 {
            let id = Array(RandomID.uuid().utf8)
            #expect(id.count == 36)
            for (i, c) in id.enumerated() {
                if [8, 13, 18, 23].contains(i) {
                    #expect(c == UInt8(ascii: "-"))
                } else {
                    #expect((UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c))
                }
            }
            #expect(id[14] == UInt8(ascii: "4"))
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(id[19]))
        }
    }

    /// Past several refills of the 4 KiB pool (256 ids each), none repeats.
    @Test func noRepeatsAcrossRefills() {
        var seen = Set<String>()
        for _ in 0..<5000 { seen.insert(RandomID.uuid()) }
        #expect(seen.count == 5000)
    }

    @Test func formatPutsTheHighWordFirst() {
        #expect(
            RandomID.format(0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210) == "01234567-89ab-cdef-fedc-ba9876543210")
    }

    @Test func parseReadsBackWhatFormatWrote() {
        for _ in 0..<1000 {
            let bits = RandomID.bits()
            let parsed = RandomID.parse(RandomID.format(bits.0, bits.1))
            #expect(parsed.map { $0 == bits } == true)
            #expect(RandomID.parse(RandomID.format(bits.0, bits.1).uppercased()).map { $0 == bits } == true)
        }
        for bad in [
            "", "01234567-89ab-cdef-fedc-ba987654321", "01234567-89ab-cdef-fedc-ba98765432100", "0123456789ab-cdef-fedc-ba9876543210-",
            "01234567-89ab-cdef-fedc-ba987654321g", "01234567_89ab-cdef-fedc-ba9876543210", "01234567-89ab-cdef-fedc-ba98765432é",
        ] {
            #expect(RandomID.parse(bad) == nil, "\(bad)")
        }
    }
}
