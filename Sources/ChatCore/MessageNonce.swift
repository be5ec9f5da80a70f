/// "No duplicates": a message may carry a nonce, its sender's own id for it, and a resend
/// with the same nonce by the same author in the same room stores nothing new and is
/// answered with the original. The key is (room, author, nonce), where the author is
/// chatd's key for the sender (`ChatSession.authorKey`, or `server:NAME` for an API key's
/// `Idempotency-Key`). The window is the message itself: the nonce is stored with it, so it
/// outlives restarts and is shared by a cluster's nodes, and it ends when the message is
/// deleted or expires.
public enum MessageNonce {
    /// The longest nonce a client may send in a `message`.
    public static let maxClientLength = 64
    /// The longest `Idempotency-Key` of `POST /api/publish` (keys are often UUIDs plus a
    /// prefix, so more room than a client's nonce).
    public static let maxKeyLength = 128

    /// 1 to `maxLength` printable ASCII characters (space to `~`): an id, not text, so it is
    /// compared byte for byte and needs no sanitising.
    public static func isValid(_ nonce: String, maxLength: Int) -> Bool {
        let bytes = nonce.utf8
        return !bytes.isEmpty && bytes.count <= maxLength && bytes.allSatisfy { (0x20...0x7E).contains($0) }
    }

    /// One author's nonce in a room (the room is implied by whoever holds the ledger).
    public struct Key: Hashable, Sendable {
        public let author: String
        public let nonce: String

        public init(author: String, nonce: String) {
            self.author = author
            self.nonce = nonce
        }
    }

    /// A room's messages with a nonce between their duplicate check and their commit. The
    /// store only knows a message once it is committed, so a resend racing the first (two
    /// connections of one user after a reconnect, or a retried API call) must find the first
    /// here and wait for its outcome rather than store a second copy.
    public struct Ledger<Waiter> {
        private var inFlight: [Key: [Waiter]] = [:]
        /// Moves whenever a message with a nonce stops being in flight (committed or not).
        /// A check that read the store before a commit may have missed it: when this moved
        /// since the read, the store is asked again before a number is taken.
        public private(set) var generation: UInt64 = 0

        public init() {}

        public var isEmpty: Bool { inFlight.isEmpty }

        /// What the caller does with a message whose key is `key`, after reading the store
        /// at `checked` (nil: not read yet).
        public enum Step: Equatable {
            /// Another message with the key is in flight: `waiter` is told its outcome.
            case waiting
            /// Read the store (again): it may hold the key now.
            case check(generation: UInt64)
            /// No other message has the key: it is the caller's until `release`.
            case claimed
        }

        public mutating func admit(_ key: Key, checked: UInt64?, waiter: Waiter) -> Step {
            if inFlight[key] != nil {
                inFlight[key]!.append(waiter)
                return .waiting
            }
            guard let checked, checked == generation else { return .check(generation: generation) }
            inFlight[key] = []
            return .claimed
        }

        /// The claimed message's outcome is known: whoever waited for it is handed back.
        public mutating func release(_ key: Key) -> [Waiter] {
            generation &+= 1
            return inFlight.removeValue(forKey: key) ?? []
        }
    }
}

extension MessageNonce.Ledger.Step: Sendable {}
