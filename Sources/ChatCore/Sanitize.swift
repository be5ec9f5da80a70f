/// Name and room clean-up, exactly as the article's server does it, so that its page and
/// smoke client see the same names: trim, cut to a length counted in UTF-16 units (as
/// JavaScript's `slice` does), then accept only a small ASCII alphabet or fall back.
public enum Sanitize {
    public static let defaultName = "guest"
    public static let defaultRoom = "lobby"

    /// `^[\w -]+$` after trimming, at most 24 UTF-16 units; otherwise "guest".
    public static func name(_ raw: String?) -> String {
        let cut = jsSlice(trimmed(raw ?? defaultName), 24)
        return !cut.isEmpty && cut.unicodeScalars.allSatisfy(isNameScalar) ? cut : defaultName
    }

    /// `^[a-zA-Z0-9_-]+$` after trimming, at most 32 UTF-16 units; otherwise `fallback`.
    public static func room(_ raw: String?, fallback: String = defaultRoom) -> String {
        let cut = jsSlice(trimmed(raw ?? fallback), 32)
        return isValidRoom(cut) ? cut : fallback
    }

    /// True for a display name as `name` would keep it unchanged (credential names, JWT names).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf16.count <= 24 && trimmed(name) == name && name.unicodeScalars.allSatisfy(isNameScalar)
    }

    public static func isValidRoom(_ room: String) -> Bool {
        !room.isEmpty && room.utf16.count <= 32 && room.unicodeScalars.allSatisfy(isRoomScalar)
    }

    static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        isRoomScalar(s) || s == " "
    }

    static func isRoomScalar(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-": return true
        default: return false
        }
    }

    /// Message text without the characters that make text lie about itself: bidirectional
    /// overrides and isolates (which reorder what a reader sees, "Trojan Source"), and
    /// control characters other than newline and tab.
    public static func visibleText(_ s: String) -> String {
        // Almost every text has none: kept as it is, not rebuilt scalar by scalar.
        guard s.unicodeScalars.contains(where: isHidden) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars where !isHidden(scalar) { out.append(scalar) }
        return String(out)
    }

    static func isHidden(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x0A, 0x09: return false
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0 and C1 controls
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return true  // bidi controls
        default: return false
        }
    }

    /// True when some character of `text` draws something: text made only of whitespace,
    /// default-ignorable code points (U+200B zero width space, U+3164 Hangul filler, tag
    /// characters, variation selectors, U+FEFF…) or the blank Braille pattern U+2800 looks
    /// like an empty message to readers and is a known way round an "empty" check.
    public static func hasVisibleContent(_ text: String) -> Bool {
        text.unicodeScalars.contains { scalar in
            !(isJSWhitespace(scalar) || scalar.properties.isWhitespace || scalar.properties.isDefaultIgnorableCodePoint
                || scalar.value == 0x2800 || isHidden(scalar) || scalar.value == 0x0A || scalar.value == 0x09)
        }
    }

    /// JavaScript's `String.prototype.trim` whitespace (the common part of it).
    static func trimmed(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isJSWhitespace($0) }),
            let last = scalars.lastIndex(where: { !isJSWhitespace($0) })
        else { return "" }
        return String(scalars[first...last])
    }

    static func isJSWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x20, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
            return true
        default:
            return false
        }
    }

    /// The first `count` UTF-16 units, never splitting a surrogate pair into garbage: a cut
    /// through a pair drops the whole scalar (the name check rejects non-ASCII anyway).
    static func jsSlice(_ s: String, _ count: Int) -> String {
        var units = 0
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            units += scalar.utf16.count
            if units > count { break }
            out.append(scalar)
        }
        return String(out)
    }
}
