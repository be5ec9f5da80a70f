import NIOCore

/// A room's welcome for joiners without `since` (its whole window as one `history` event),
/// encoded — and compressed, per window size — once per window generation instead of once
/// per joiner: browsers negotiate permessage-deflate, and a reconnect storm into rooms with
/// history compressed the same messages for every one of them (about a millisecond each).
/// Kept from the second joiner of a generation on, so that a room joined once between
/// messages holds nothing. Guarded by the room's lock.
struct WelcomeCache {
    private var generation: UInt64 = 0
    /// The settings the frames were made with (compression's level and minimum size); held,
    /// so that a reload's new settings can never be mistaken for them.
    private var settings: Settings?
    private var frames: [(bits: Int, frame: ByteBuffer)] = []
    /// A joiner of this generation found nothing: the next one keeps what it makes.
    private var missed: UInt64?

    /// The frame for a connection with permessage-deflate window `bits` (0: none), if made.
    func frame(generation: UInt64, bits: Int, settings: Settings) -> ByteBuffer? {
        if generation == self.generation, settings === self.settings, let hit = frames.first(where: { $0.bits == bits }) {
            return hit.frame
        }
        return nil
    }

    /// Offers a frame made after a miss; kept if this generation was missed before.
    mutating func offer(_ frame: ByteBuffer, generation: UInt64, bits: Int, settings: Settings) {
        guard missed == generation else {
            missed = generation
            return
        }
        if generation != self.generation || settings !== self.settings {
            self.generation = generation
            self.settings = settings
            frames.removeAll()
        }
        if !frames.contains(where: { $0.bits == bits }) { frames.append((bits, frame)) }
    }
}
