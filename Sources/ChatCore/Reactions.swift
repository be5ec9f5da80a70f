import Foundation

/// What a reaction may be, and how a message's counts change with one.
public enum Reactions {
    /// The most UTF-8 bytes one emoji may take: the longest family and flag sequences in use
    /// take about 35.
    public static let maxEmojiBytes = 64

    /// One emoji in its fully qualified form (Unicode's emoji-test), so that one emoji cannot
    /// take several of a message's reaction slots in look-alike spellings (found by review:
    /// 👍 with text or repeated variation selectors, a trailing joiner, combining marks, a
    /// lone regional indicator or skin tone). An emoji is shown as one by default, or made so
    /// by U+FE0F; it may carry a skin tone (on a base that takes one), a keycap (on 0-9 # *)
    /// or a tag sequence (subdivision flags); two regional indicators are a flag; several
    /// are joined by U+200D.
    public static func isEmoji(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= maxEmojiBytes, s.count == 1 else { return false }
        let scalars = Array(s.unicodeScalars)
        var i = 0
        guard component(scalars, &i) else { return false }
        while i < scalars.count {
            guard scalars[i].value == 0x200D else { return false }
            i += 1
            guard component(scalars, &i) else { return false }
        }
        return true
    }

    private static func isRegionalIndicator(_ u: Unicode.Scalar) -> Bool { (0x1F1E6...0x1F1FF).contains(u.value) }

    private static func component(_ s: [Unicode.Scalar], _ i: inout Int) -> Bool {
        guard i < s.count else { return false }
        let base = s[i]
        if isRegionalIndicator(base) {
            guard i + 1 < s.count, isRegionalIndicator(s[i + 1]) else { return false }
            i += 2
            return true
        }
        let p = base.properties
        guard p.isEmoji, !p.isEmojiModifier else { return false }
        i += 1
        let modifier = i < s.count && s[i].properties.isEmojiModifier && p.isEmojiModifierBase
        if modifier {
            i += 1
        } else if !p.isEmojiPresentation {
            guard i < s.count, s[i].value == 0xFE0F else { return false }
            i += 1
            if i < s.count, s[i].value == 0x20E3 {
                guard "0123456789#*".unicodeScalars.contains(base) else { return false }
                i += 1
            }
        }
        if i < s.count, (0xE0020...0xE007E).contains(s[i].value) {
            while i < s.count, (0xE0020...0xE007E).contains(s[i].value) { i += 1 }
            guard i < s.count, s[i].value == 0xE007F else { return false }
            i += 1
        }
        return true
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

extension Sequence<ChatMessage> {
    /// The numbers of the messages among these that have reactions, nil when none has.
    public var reactedMessages: [UInt64]? {
        let seqs = compactMap { $0.isMessage && !$0.reactions.isEmpty ? $0.seq : nil }
        return seqs.isEmpty ? nil : seqs
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
