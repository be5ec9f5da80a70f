import Foundation

/// What a reaction may be, and how a message's counts change with one.
public enum Reactions {
    /// The most UTF-8 bytes one emoji may take: the longest family and flag sequences in use
    /// take about 35.
    public static let maxEmojiBytes = 64

    /// One grapheme that is an emoji: one shown as an emoji by default, one made so by its
    /// variation selector (U+FE0F), a keycap, or a flag or ZWJ sequence. A digit or a letter
    /// alone is not one, though Unicode counts some of them as emoji characters.
    public static func isEmoji(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= maxEmojiBytes, s.count == 1, let scalars = s.first?.unicodeScalars else { return false }
        if scalars.contains(where: { $0.properties.isEmojiPresentation }) { return true }
        guard scalars.count > 1, scalars.first!.properties.isEmoji else { return false }
        return scalars.contains { $0.value == 0xFE0F || $0.value == 0x20E3 || $0.value == 0x200D }
    }

    /// `counts` with one reader's `emoji` added or taken away; emoji no one uses any more
    /// are dropped, new ones come last.
    public static func counts(_ counts: [ReactionCount], _ change: ReactionChange) -> [ReactionCount] {
        var out = counts
        if let i = out.firstIndex(where: { $0.emoji == change.emoji }) {
            out[i].count = change.added ? (out[i].count == .max ? .max : out[i].count + 1) : max(out[i].count - 1, 0)
            if out[i].count == 0 { out.remove(at: i) }
        } else if change.added {
            out.append(ReactionCount(emoji: change.emoji, count: 1))
        }
        return out
    }
}

extension Reactions {
    /// Counts as the stores keep them: `[["👍",2],["🎉",1]]`, an array so that the order
    /// (first use) survives a JSON object's lack of one.
    public static func encode(_ counts: [ReactionCount]) -> String? {
        guard !counts.isEmpty else { return nil }
        var w = JSONWriter()
        w.beginArray()
        for c in counts {
            w.beginArray()
            w.value(c.emoji)
            w.value(c.count)
            w.endArray()
        }
        w.endArray()
        return w.string
    }

    /// The stored form back; anything else (nothing stored, a damaged value) is no reactions.
    public static func decode(_ stored: String?) -> [ReactionCount] {
        guard let stored, let data = stored.data(using: .utf8),
            let pairs = try? JSONSerialization.jsonObject(with: data) as? [[Any]]
        else { return [] }
        return pairs.compactMap { pair in
            guard pair.count == 2, let emoji = pair[0] as? String, let n = pair[1] as? NSNumber, let count = Int(exactly: n.doubleValue),
                count > 0
            else { return nil }
            return ReactionCount(emoji: emoji, count: count)
        }
    }
}
