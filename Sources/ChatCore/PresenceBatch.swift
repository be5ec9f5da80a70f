/// Presence in big rooms, gathered: a join or leave in a room of more than `threshold`
/// members is not sent at once but gathered for `intervalNanoseconds`, then told to the room
/// in one `presence` event with the count at that moment ("ann, bob and 8 others joined").
///
/// A room of n members told of each arrival costs n deliveries per join, so filling it costs
/// n²/2; a reconnect storm after a deploy refills every room at once (issue 15). A lone
/// change in a big room is told with the same text as in a small one, only up to one
/// interval later. Small rooms are told at once, as the article's chat is.
public struct PresenceBatch: Sendable {
    /// Members (counting the one joining) above which changes are gathered.
    public static let threshold = 32
    public static let intervalNanoseconds: Int64 = 250_000_000
    /// Names told in a gathered event; the rest are counted.
    static let namesTold = 3

    private var joined = Change()
    private var left = Change()
    /// Changes are being gathered; a timer will call `take()`.
    public private(set) var gathering = false

    public init() {}

    public enum Step: Equatable, Sendable {
        /// Tell the room now, with this text.
        case now(String)
        /// Gathered; start the timer that calls `take()` when `startTimer`.
        case gathered(startTimer: Bool)
    }

    public mutating func joined(_ name: String, members: Int) -> Step {
        step(members: members, text: "\(name) joined") { $0.joined.add(name) }
    }

    public mutating func left(_ name: String, members: Int) -> Step {
        step(members: members, text: "\(name) left") { $0.left.add(name) }
    }

    /// What was gathered, as one event's text; the batch is then empty.
    public mutating func take() -> String? {
        defer { self = PresenceBatch() }
        let parts = [joined.text(verb: "joined"), left.text(verb: "left")].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    private mutating func step(members: Int, text: String, add: (inout PresenceBatch) -> Void) -> Step {
        // While gathering, a small room's changes are gathered too: told at once, one would
        // overtake those gathered before it.
        guard gathering || members > Self.threshold else { return .now(text) }
        add(&self)
        defer { gathering = true }
        return .gathered(startTimer: !gathering)
    }

    private struct Change {
        var names: [String] = []
        var count = 0

        mutating func add(_ name: String) {
            count += 1
            if names.count < PresenceBatch.namesTold { names.append(name) }
        }

        func text(verb: String) -> String? {
            guard count > 0 else { return nil }
            let others = count - names.count
            if others == 0 {
                let listed = names.count == 1 ? names[0] : names.dropLast().joined(separator: ", ") + " and " + names[names.count - 1]
                return "\(listed) \(verb)"
            }
            return "\(names.joined(separator: ", ")) and \(others) \(others == 1 ? "other" : "others") \(verb)"
        }
    }
}
