import ChatCore
import Testing

@testable import ChatConfig

@Suite struct ClusterConfigTests {
    @Test func clusterKeysAndURL() throws {
        let c = try parseConfig(
            """
            [cluster]
            database_url = "postgres://chat%40ops:s3cret@db.internal:6543/chat?sslmode=require"
            node_id = "chat-1"
            heartbeat_seconds = 1
            node_timeout_seconds = 5
            """)
        #expect(c.cluster.isEnabled && c.cluster.nodeID == "chat-1")
        #expect(c.cluster.heartbeatSeconds == 1 && c.cluster.nodeTimeoutSeconds == 5)
        let url = try #require(c.cluster.database)
        #expect(url == PostgresURL("postgresql://chat%40ops:s3cret@db.internal:6543/chat?sslmode=require"))
        #expect(url.user == "chat@ops" && url.password == "s3cret" && url.host == "db.internal" && url.port == 6543)
        #expect(url.database == "chat" && url.requireTLS)
        #expect(url.redacted == "postgres://chat@ops@db.internal:6543/chat?sslmode=require")
    }

    @Test func noClusterByDefault() throws {
        let c = try parseConfig("")
        #expect(!c.cluster.isEnabled && c.cluster.database == nil)
    }

    @Test(arguments: [
        "mysql://u@h/db",  // another database
        "postgres://h/db",  // no user
        "postgres://u@h",  // no database
        "postgres://u@h/db?sslmode=verify",  // an sslmode chatd does not offer
        "postgres://u@h/db?application=x",  // an unknown parameter
        "not a url",
    ])
    func badURLsNameTheKey(url: String) {
        expectConfigError("[cluster]\ndatabase_url = \"\(url)\"\n", .invalidValue, key: "cluster.database_url", line: 2)
    }

    @Test func badNodeAndTimes() {
        expectConfigError("[cluster]\nnode_id = \"a b\"\n", .invalidValue, key: "cluster.node_id", line: 2)
        expectConfigError("[cluster]\nheartbeat_seconds = 0\n", .outOfRange, key: "cluster.heartbeat_seconds", line: 2)
        expectConfigError(
            "[cluster]\nheartbeat_seconds = 3\nnode_timeout_seconds = 5\n", .outOfRange,
            key: "cluster.node_timeout_seconds", line: 3)
    }

    @Test func environmentURLWinsAndIsChecked() throws {
        let base = try parseConfig("[cluster]\ndatabase_url = \"postgres://a@h/one\"\n")
        let c = try ConfigLoader.applyEnvironment(["CHATD_DATABASE_URL": "postgres://b:pw@h/two"], to: base)
        #expect(c.cluster.database?.database == "two" && c.cluster.database?.password == "pw")
        #expect(throws: ConfigError.self) { try ConfigLoader.applyEnvironment(["CHATD_DATABASE_URL": "nope"], to: base) }
    }

    @Test func clusterKeysNeedARestart() throws {
        let a = try parseConfig("[cluster]\ndatabase_url = \"postgres://u:old@h/db\"\n")
        let b = try parseConfig("[cluster]\ndatabase_url = \"postgres://u:new@h/db2\"\n")
        let diff = ConfigDiff.between(a, b)
        #expect(diff.needsRestart == ["cluster.database_url"])
    }
}
