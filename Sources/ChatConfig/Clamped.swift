/// Seconds from the configuration as integer time units. Validation keeps every value in a
/// range where the plain conversion is exact, but a conversion that traps takes the whole
/// daemon down (and a reload to a bad value must never kill it), so these saturate instead:
/// NaN and negatives become 0, values beyond the type's range its maximum.
public enum Clamped {
    /// `seconds` in nanoseconds, 0...Int64.max.
    public static func nanoseconds(seconds: Double) -> Int64 { scaled(seconds, by: 1e9) }

    /// `seconds` in milliseconds, 0...Int64.max.
    public static func milliseconds(seconds: Double) -> Int64 { scaled(seconds, by: 1e3) }

    private static func scaled(_ value: Double, by factor: Double) -> Int64 {
        let product = value * factor
        guard product > 0 else { return 0 }  // also NaN
        // Int64.max is not a Double; 2^63 is the first Double that no longer fits.
        guard product < 9_223_372_036_854_775_808.0 else { return .max }
        return Int64(product)
    }
}
