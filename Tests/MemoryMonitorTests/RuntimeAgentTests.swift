import Testing

@testable import MemoryMonitor
import TestSupport

@Suite("Runtime agent: reports, groups, plans", .offCooperativePool)
struct RuntimeAgentTests {
    /// A report as clients/python/memory_monitor_agent.py writes it (keys trimmed to what is read).
    static func report(objects: Double, collections: [Double], uncollectable: Double = 0, throttled: Bool = false, limit: JSONValue = .null) -> JSONValue {
        [
            "interpreter": "CPython", "version": "3.11.7", "threads": 3,
            "gc": [
                "enabled": true, "count": [12, 3, 1], "objects": .number(objects),
                "generations": .array(
                    collections.enumerated().map { i, c in
                        ["generation": .number(Double(i)), "collections": .number(c), "collected": .number(c * 10), "uncollectable": .number(i == 2 ? uncollectable : 0)]
                    }),
            ],
            "tracemalloc": ["tracing": false, "traced_bytes": 0],
            "gate": ["limit": limit, "active": 2, "waiting": 1, "peak": 3, "throttled": .bool(throttled)],
            "clearers": [["name": "cache.clear", "priority": "normal"]], "non_essential": [], "prepare_restart": ["flush"],
        ]
    }

    @Test func aReportIsReadAndAGroupSums() throws {
        let a = try #require(RuntimeReport.parse(Self.report(objects: 1000, collections: [40, 4, 1], uncollectable: 2)))
        #expect(a.objects == 1000 && a.generations.map(\.collections) == [40, 4, 1] && a.generations[2].uncollectable == 2)
        #expect(a.gateLimit == nil && a.gateActive == 2 && a.gatePeak == 3 && a.clearers == 1 && a.prepareHooks == 1)
        let b = try #require(RuntimeReport.parse(Self.report(objects: 500, collections: [10, 1, 0], throttled: true, limit: 4)))
        #expect(b.gateLimit == 4 && b.gateThrottled)
        let sum = try #require(RuntimeReport.sum([a, b]))
        #expect(sum.objects == 1500 && sum.generations.map(\.collections) == [50, 5, 1] && sum.generations.map(\.collected) == [500, 50, 10])
        #expect(sum.threads == 6 && sum.gateThrottled && sum.counts == [24, 6, 2])
        // Numbers from another process are bounded: a huge or negative one is unknown, never a trap.
        let hostile = try #require(RuntimeReport.parse(Self.report(objects: 1e300, collections: [-5, 1e19, 3])))
        #expect(hostile.objects == nil && hostile.generations.map(\.collections) == [0, 0, 3])
        #expect(JSONValue.number(1e16).boundedInteger == nil && JSONValue.number(-3).boundedCount == nil)
        // Not a report: nothing is made up.
        #expect(RuntimeReport.parse(["error": "no"]) == nil)
        #expect(RuntimeReport.parse(.array([])) == nil)
    }

    @Test func aReadingSaysWhoAnsweredAndWhyNot() throws {
        var reading = RuntimeReading()
        #expect(reading.reason == "no agent socket found" && reading.agentsUp == 0 && reading.agentsDown == 0)
        reading.endpoints = [10: "/a.sock", 11: "/b.sock"]
        reading.problems = [11: "timeout: no answer within 0.25 s", 12: "no agent socket (the process holds no Unix socket)"]
        #expect(reading.agentsDown == 2 && reading.reason?.contains("timeout") == true)
        reading.reports[10] = RuntimeReport.parse(Self.report(objects: 7, collections: [1, 0, 0]))
        #expect(reading.agentsUp == 1 && reading.agentsDown == 1 && reading.reason == nil)
        #expect(reading.reachable.map(\.pid) == [10] && reading.total?.objects == 7)
    }

    /// In a sidecar, the clean-up and in-process actions are skipped without an agent and run
    /// (through it) with one; they no longer fold into a signal.
    @Test func aSidecarPlansTheInProcessActionsWhenAnAgentAnswers() {
        var c = MonitorConfiguration.AutoResponse()
        c.critical = MonitorConfiguration.LevelActions(forceGC: true, clearCaches: true, throttle: true, stopNonEssential: true, signal: .term)
        var without = ResponsePlanner(configuration: c, inProcess: false)
        let plain = without.plan(level: .critical, now: 0)
        #expect(plain.map(\.action) == [.stopNonEssential, .signal])
        #expect(plain.first?.decision != .run)
        var with = ResponsePlanner(configuration: c, inProcess: false)
        let agent = with.plan(level: .critical, now: 0, agentPresent: true)
        #expect(agent.map(\.action) == [.forceGC, .clearCaches, .stopNonEssential, .signal])
        #expect(agent.allSatisfy { $0.decision == .run })
        #expect(with.manualPlan(agentPresent: true).map(\.action) == [.forceGC])
        #expect(without.manualPlan().isEmpty)
    }

    /// The socket scheme: a path longer than sun_path is refused with the reason, not truncated.
    @Test func aSocketPathTooLongIsRefused() {
        let long = "/tmp/" + String(repeating: "x", count: 200) + ".sock"
        guard case .failure(let failure) = UnixHTTP.connect(long, timeout: 0.1) else {
            Issue.record("connected to a path longer than sun_path")
            return
        }
        #expect(failure.description.contains("longer than"))
        guard case .failure(let missing) = UnixHTTP.connect("/tmp/mm-no-such-agent.sock", timeout: 0.1) else {
            Issue.record("connected to nothing")
            return
        }
        #expect(missing.description == "no socket")
    }
}
