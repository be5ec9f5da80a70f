/// Comparison whose running time does not depend on where two secrets first differ, so a
/// token cannot be guessed byte by byte from response times.
public enum ConstantTime {
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        if a.count != b.count { diff |= 1 }
        // Walk the candidate's full length whatever the stored token's length is.
        var bi = b.makeIterator()
        for x in a {
            let y = bi.next() ?? 0
            diff |= x ^ y
        }
        return diff == 0
    }

    /// True when `candidate` equals any of `secrets`; every secret is compared.
    public static func matchesAny(_ candidate: String, in secrets: [String]) -> Bool {
        var found = false
        for secret in secrets where equals(Array(candidate.utf8), Array(secret.utf8)) {
            found = true
        }
        return found
    }
}
