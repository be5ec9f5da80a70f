import Testing

@testable import ChatCore

/// Issue 18, item 3: the admin API's decisions without a server.
@Suite struct AdminPolicyTests {
    @Test func pathsNameTheEndpointsAndNothingElse() {
        #expect(AdminPolicy.endpoint(path: "/api/admin/status") == .status)
        #expect(AdminPolicy.endpoint(path: "/api/admin/actions") == .actions)
        #expect(AdminPolicy.endpoint(path: "/api/admin/") == nil)
        #expect(AdminPolicy.endpoint(path: "/api/admin/status/") == nil)
        #expect(AdminPolicy.endpoint(path: "/api/publish") == nil)
    }

    @Test func onlyTheAdminRoleMayUseIt() {
        let admin = Identity(name: "root", role: .admin, userKey: "credential:root")
        let moderator = Identity(name: "mod", role: .moderator, userKey: "credential:mod")
        #expect(AdminPolicy.authorize(admin) == nil)
        #expect(AdminPolicy.authorize(moderator)?.status == 403)
        #expect(AdminPolicy.authorize(Identity(name: "u", role: .user, userKey: "credential:u"))?.status == 403)
    }

    @Test func postsMustBeJSONFromAnAllowedOriginWhenOneIsNamed() {
        let allowed: Set = ["https://chat.example.com"]
        #expect(AdminPolicy.checkPost(contentType: "application/json", origin: nil, allowedOrigins: allowed) == nil)
        #expect(
            AdminPolicy.checkPost(
                contentType: "Application/JSON; charset=utf-8", origin: "https://chat.example.com", allowedOrigins: allowed) == nil)
        #expect(AdminPolicy.checkPost(contentType: nil, origin: nil, allowedOrigins: allowed)?.status == 415)
        #expect(AdminPolicy.checkPost(contentType: "text/plain", origin: nil, allowedOrigins: allowed)?.status == 415)
        #expect(
            AdminPolicy.checkPost(contentType: "application/x-www-form-urlencoded", origin: nil, allowedOrigins: allowed)?.status == 415)
        #expect(
            AdminPolicy.checkPost(contentType: "application/json", origin: "https://evil.example", allowedOrigins: allowed)?.status == 403)
        #expect(AdminPolicy.checkPost(contentType: "application/json", origin: "null", allowedOrigins: allowed)?.status == 403)
    }

    @Test func onlyModerationActionsAreAccepted() {
        for action in ["kick", "delete", "mute", "unmute", "ban", "unban", "purge-user", "webhooks-retry"] {
            #expect(AdminPolicy.checkAction(command: action) == nil)
        }
        for other in ["reload", "publish", "status", "audit", "bogus", ""] {
            let refusal = AdminPolicy.checkAction(command: other)
            #expect(refusal?.status == 400)
            #expect(refusal?.reason.contains("not an admin action") == true)
        }
        #expect(AdminPolicy.checkAction(command: nil)?.reason.contains("needs a \"command\"") == true)
        #expect(AdminPolicy.actor(name: "alice") == "admin:alice (console)")
    }

    @Test func auditFiltersParseAndApply() throws {
        #expect(try AuditFilter.parse([:]).get() == AuditFilter())
        let parsed = try AuditFilter.parse(["limit": "2", "action": "mute", "actor": "admin:root", "room": ""]).get()
        #expect(parsed == AuditFilter(limit: 2, action: "mute", actor: "admin:root", room: nil))
        for bad in ["0", "501", "-1", "ten", "1.5"] {
            #expect(throws: AdminPolicy.Refusal.self) { try AuditFilter.parse(["limit": bad]).get() }
        }
        #expect(throws: AdminPolicy.Refusal.self) { try AuditFilter.parse(["acton": "mute"]).get() }

        func entry(_ at: Double, _ actor: String, _ action: String, _ target: String) -> AuditEntry {
            AuditEntry(at: at, actor: actor, action: action, target: target, reason: "")
        }
        let log = [
            entry(1, "admin:root (console)", "mute", "credential:bob for 60s"),
            entry(2, "chatctl (ops, pid 1)", "delete", "lobby#4 by bob"),
            entry(3, "admin:root (console)", "delete", "lobby#5 by bob"),
            entry(4, "admin:root (console)", "delete", "lobby-2#1 by eve"),
            entry(5, "admin:root (console)", "mute", "credential:eve for 60s"),
        ]
        #expect(parsed.apply(log).map(\.at) == [5, 1])
        #expect(AuditFilter(room: "lobby").apply(log).map(\.at) == [3, 2])
        #expect(AuditFilter(limit: 1, action: "delete").apply(log).map(\.at) == [4])
        #expect(AuditFilter(actor: "chatctl").apply(log).map(\.at) == [2])
        #expect(AuditFilter().apply(log).map(\.at) == [5, 4, 3, 2, 1])
    }
}

@Suite struct MetricSeriesTests {
    @Test func samplesEveryIntervalWithRates() {
        var series = MetricSeries(interval: 5, capacity: 4)
        #expect(series.isDue(now: 100))
        series.record(at: 100, connections: 1, messagesIn: 10, messagesOut: 20)
        #expect(!series.isDue(now: 102))
        #expect(series.isDue(now: 105))
        series.record(at: 105, connections: 3, messagesIn: 20, messagesOut: 50)
        let samples = series.samples
        #expect(samples.count == 2)
        #expect(samples[0].inPerSecond == nil)
        #expect(samples[1].inPerSecond == 2 && samples[1].outPerSecond == 6)
    }

    @Test func theRingKeepsTheNewestAndStaysBounded() {
        var series = MetricSeries(interval: 1, capacity: 3)
        for i in 0..<10 { series.record(at: Double(i), connections: i, messagesIn: i, messagesOut: i) }
        #expect(series.samples.map(\.connections) == [7, 8, 9])
        #expect(series.latest?.connections == 9)
        #expect(series.samples.allSatisfy { $0.inPerSecond == 1 })
    }

    @Test func aCounterThatWentBackGivesNoRate() {
        var series = MetricSeries(interval: 1, capacity: 3)
        series.record(at: 0, connections: 0, messagesIn: 10, messagesOut: 10)
        series.record(at: 1, connections: 0, messagesIn: 5, messagesOut: 12)
        #expect(series.latest?.inPerSecond == nil && series.latest?.outPerSecond == 2)
    }
}
