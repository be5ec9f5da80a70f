import ChatCore
import NIOCore

extension ChatSession {
    /// `members`: who is in the room, from the room's shared list (`Hub.members(of:)`). A
    /// connection is answered once per `MemberList.perConnectionNanoseconds`: the answer is
    /// kilobytes for a request of a few bytes.
    func answerMembers(room: String) {
        guard let entered = memberships.first(where: { $0.room == room })?.entered else { return refuse(.notJoined) }
        let now = NIODeadline.now().uptimeNanoseconds
        guard MemberList.mayAsk(last: membersAnsweredAt, now: now) else {
            membersRefused += 1
            if membersRefused > MemberList.refusalsBeforeClose {
                return close(code: .policyViolation, reason: "too many messages: slow down")
            }
            return refuse(.rateLimited)
        }
        membersAnsweredAt = now
        membersRefused = 0
        let hub = hub
        answerFromStore { await hub.members(of: entered) }
    }
}
