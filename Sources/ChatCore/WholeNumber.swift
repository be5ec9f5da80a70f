/// The exact value of a JSON number (its grammar already checked) when it is a whole number
/// that fits a `UInt64`, however it is written: worked out from its digits, because a
/// `Double` rounds above 2^53 and below a unit (`9007199254740993.0`, `1.0000000000000001`).
enum WholeNumber {
    /// The value of a run of decimal digits, if it fits a `UInt64`.
    static func of(digits: some Collection<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for byte in digits {
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    /// The value of a number with a sign, fraction or exponent (grammar already checked), if
    /// it is whole and fits a `UInt64`: from its digits, not through a `Double`.
    static func of(decimal text: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var significand: [UInt8] = []  // the digits before and after the point
        var fractionDigits = 0
        var exponent = 0
        var index = text.startIndex
        let negative = text.first == UInt8(ascii: "-")
        if negative { index += 1 }
        var inFraction = false
        while index < text.endIndex {
            let byte = text[index]
            index += 1
            if byte == UInt8(ascii: ".") {
                inFraction = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                var sign = 1
                if text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+") {
                    if text[index] == UInt8(ascii: "-") { sign = -1 }
                    index += 1
                }
                // Clamped past the literal's length + 21: the answer (too big, or not whole)
                // is then what the true exponent gives, and the sum cannot overflow.
                let bound = text.count + 21
                for digit in text[index...] { exponent = min(exponent * 10 + Int(digit &- UInt8(ascii: "0")), bound) }
                exponent *= sign
                break
            } else {
                significand.append(byte)
                if inFraction { fractionDigits += 1 }
            }
        }
        let digits = significand.drop { $0 == UInt8(ascii: "0") }
        guard let last = digits.lastIndex(where: { $0 != UInt8(ascii: "0") }) else { return 0 }  // zero, however written
        if negative { return nil }
        let trailingZeros = digits.endIndex - 1 - last
        let scale = exponent - fractionDigits + trailingZeros
        let kept = digits[..<(last + 1)]
        guard scale >= 0, kept.count + scale <= 20, var value = of(digits: kept) else { return nil }
        for _ in 0..<scale {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            value = times
        }
        return value
    }
}
