import Testing

@testable import ChatCore

/// Issue 14, item 2: cluster sequencing without a database. Notifications of commits arrive
/// in any order, some without their messages (too big for NOTIFY), some never (a listener
/// reconnecting); what members here see must be the table, in order, each message once.
@Suite struct InOrderDeliveryTests {
    static func message(_ seq: UInt64) -> ChatMessage {
        ChatMessage(id: "m\(seq)", seq: seq, room: "r", from: "a", text: "t\(seq)", sentAt: "")
    }

    /// A notification of the batch `seqs`: its messages, or none when they did not fit.
    struct Notification {
        var seqs: ClosedRange<UInt64>
        var carried: Bool
    }

    /// Runs `sequence` over the notifications as the hub does, reading gaps from `table`;
    /// `failReads` reads fail (then succeed). Returns what was delivered, in order.
    static func run(
        _ notifications: [Notification], table: [ChatMessage], sequence: inout InOrderDelivery,
        failReads: Int = 0, reads: inout Int
    ) -> [UInt64] {
        var delivered: [UInt64] = []
        var failures = failReads
        for note in notifications {
            let carried = note.carried ? note.seqs.compactMap { seq in table.first { $0.seq == seq } } : []
            switch sequence.notified(carried, through: note.seqs.upperBound) {
            case let .deliver(messages):
                delivered += messages.map(\.seq)
            case var .read(gap):
                while let after = gap.next {
                    reads += 1
                    if failures > 0 {
                        failures -= 1
                        gap.add(nil)
                    } else {
                        gap.add(Array(table.filter { $0.seq > after }.prefix(InOrderDelivery.page)))
                    }
                }
                delivered += sequence.finish(gap).map(\.seq)
            }
        }
        return delivered
    }

    @Test func notificationsInOrderAreDeliveredWithoutReading() {
        let table = (1...30).map(Self.message)
        var sequence = InOrderDelivery(delivered: 0)
        var reads = 0
        let notes = stride(from: UInt64(1), through: 30, by: 3).map { (first: UInt64) in
            Notification(seqs: first...(first + 2), carried: true)
        }
        #expect(Self.run(notes, table: table, sequence: &sequence, reads: &reads) == Array(1...30))
        #expect(reads == 0 && sequence.delivered == 30)
    }

    /// Every order of six batches, some cut short: the members see 1...18 in order, once.
    @Test(arguments: [false, true])
    func anyArrivalOrderDeliversTheTableInOrderOnce(someCutShort: Bool) {
        let table = (1...18).map(Self.message)
        var batches: [Notification] = []
        for i in 0..<6 {
            let first = UInt64(i) * 3 + 1
            batches.append(Notification(seqs: first...(first + 2), carried: !(someCutShort && i % 2 == 1)))
        }
        for order in Self.permutations(Array(0..<6)) {
            var sequence = InOrderDelivery(delivered: 0)
            var reads = 0
            let seen = Self.run(order.map { batches[$0] }, table: table, sequence: &sequence, reads: &reads)
            #expect(seen == Array(1...18), "order \(order)")
        }
    }

    @Test func numbersDeletedBeforeTheyArrivedArePassedOver() {
        let table = (1...10).filter { $0 != 4 && $0 != 5 }.map(Self.message)
        var sequence = InOrderDelivery(delivered: 0)
        var reads = 0
        let seen = Self.run([Notification(seqs: 1...10, carried: false)], table: table, sequence: &sequence, reads: &reads)
        #expect(seen == [1, 2, 3, 6, 7, 8, 9, 10] && sequence.delivered == 10)
        // A late notification of the deleted numbers delivers nothing again.
        #expect(sequence.notified([Self.message(4)], through: 5) == .deliver([]))
    }

    /// A read that fails stops delivery at what was read; the next notification reads again
    /// from there, and nothing is delivered twice or skipped.
    @Test func aFailedReadIsRetriedByTheNextNotification() {
        let table = (1...3000).map(Self.message)
        var sequence = InOrderDelivery(delivered: 0)
        var reads = 0
        let first = Self.run(
            [Notification(seqs: 1...2500, carried: false)], table: table, sequence: &sequence,
            failReads: 1, reads: &reads)
        #expect(first.isEmpty && sequence.delivered == 0 && reads == 1)
        let second = Self.run([Notification(seqs: 2501...3000, carried: false)], table: table, sequence: &sequence, reads: &reads)
        #expect(second == Array(1...3000) && sequence.delivered == 3000)
        #expect(reads == 1 + 3)  // pages of 1000
    }

    /// A room loaded while the database was down starts from its first notification, not
    /// from 0: the whole table would otherwise be replayed as news.
    @Test func anUnsyncedRoomStartsAtItsFirstNotification() {
        var sequence = InOrderDelivery(delivered: 0, synced: false)
        #expect(sequence.notified([Self.message(42), Self.message(41)], through: 42) == .deliver([Self.message(41), Self.message(42)]))
        #expect(sequence.synced && sequence.delivered == 42)
        #expect(sequence.notified([Self.message(43)], through: 43) == .deliver([Self.message(43)]))
    }

    @Test func duplicatesAndStaleNotificationsDeliverNothing() {
        var sequence = InOrderDelivery(delivered: 10)
        #expect(sequence.notified([Self.message(9), Self.message(10)], through: 10) == .deliver([]))
        #expect(
            sequence.notified([Self.message(11), Self.message(11), Self.message(12)], through: 12)
                == .read(InOrderDelivery.Gap(after: 10, through: 12)))
    }

    static func permutations(_ items: [Int]) -> [[Int]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { i -> [[Int]] in
            var rest = items
            let head = rest.remove(at: i)
            return permutations(rest).map { [head] + $0 }
        }
    }
}
