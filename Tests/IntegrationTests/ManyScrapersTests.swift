import Foundation
import TestSupport
import Testing

/// An HA pair of Prometheus servers scraping every second, plus a third every 15 s, against one
/// exporter checking every second: checks keep their cadence and every snapshot is rendered at
/// most once per format, however many scrapes read it.
@Suite("Many scrapers", .serialized, .offCooperativePool)
struct ManyScrapersTests {
    static func value(_ body: String, _ series: String) -> Double? {
        body.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func twoScrapersAtOneSecondAndOneAtFifteenShareEachRender() throws {
        let exporter = try Exporter(["--check-interval", "1"])
        defer { exporter.stop() }
        func config(_ interval: String) -> String {
            """
            global:
              scrape_interval: \(interval)
              scrape_timeout: 1s
            scrape_configs:
              - job_name: memory-monitor
                static_configs:
                  - targets: ["127.0.0.1:\(exporter.metricsPort)"]
            """
        }
        let first = try PrometheusServer(config: config("1s"))
        defer { first.stop() }
        let second = try PrometheusServer(config: config("1s"))
        defer { second.stop() }
        let slow = try PrometheusServer(config: config("15s"))
        defer { slow.stop() }

        let before = try exporter.metrics().bodyText
        let checksBefore = try #require(Self.value(before, "memory_checks_total"))
        let rendersBefore = try #require(Self.value(before, #"memory_exposition_renders_total{format="openmetrics"}"#))
        let started = Date()
        // About 20 s of scraping (bounded by the wait).
        #expect(first.waitForData("count_over_time(up[1m]) >= 20", seconds: 40))
        _ = second.waitForData("count_over_time(up[1m]) >= 20", seconds: 10)
        let elapsed = Date().timeIntervalSince(started)

        let after = try exporter.metrics().bodyText
        let checks = try #require(Self.value(after, "memory_checks_total")) - checksBefore
        let renders = try #require(Self.value(after, #"memory_exposition_renders_total{format="openmetrics"}"#)) - rendersBefore
        func scrapes(_ p: PrometheusServer) throws -> Double {
            let body = try p.query("sum(count_over_time(up[2m]))").body
            guard let data = body.data(using: .utf8), let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                let result = (json["data"] as? [String: Any])?["result"] as? [[String: Any]], let value = result.first?["value"] as? [Any],
                let text = value.last as? String
            else { return 0 }
            return Double(text) ?? 0
        }
        let scraped = try scrapes(first) + scrapes(second) + scrapes(slow)
        let cadence = checks / elapsed
        for (name, p) in [("first", first), ("second", second)] {
            print("many scrapers: \(name) scrape_duration_seconds p50 and max over the run: \(try p.query("quantile_over_time(0.5, scrape_duration_seconds[1m])").body) \(try p.query("max_over_time(scrape_duration_seconds[1m])").body)")
        }
        print(
            "many scrapers: \(Int(scraped)) scrapes over \(String(format: "%.1f", elapsed)) s, \(Int(checks)) checks (\(String(format: "%.2f", cadence))/s), \(Int(renders)) OpenMetrics renders"
        )
        // Every scrape was served, and far fewer bodies were rendered than served.
        #expect(scraped >= 40)
        // One render per snapshot at most: never more renders than checks (+1 for the one in flight).
        #expect(renders <= checks + 1)
        #expect(renders < scraped)
        // Cadence: the checks of the 1 s loop, plus at most one per scrape that found the snapshot
        // over scrape_max_age_seconds (1 s) old; with two scrapers a second that stays under 2 a second.
        #expect(cadence >= 0.8 && cadence < 2, "\(cadence) checks a second")
        // Every scrape succeeded.
        #expect(try first.query("up == 0").count == 0)
        #expect(try second.query("up == 0").count == 0)
    }
}

/// glibc's malloc arenas under concurrent scrapes: the exporter caps them at 2 (one heap besides
/// the main one), unless the environment chooses; the control run, with MALLOC_ARENA_MAX=8 set,
/// shows the same load opening more, so the count is a real measurement.
@Suite("Malloc arenas", .serialized, .offCooperativePool)
struct MallocArenaTests {
    /// Heaps of the arenas other than the main one: anonymous read-write mappings that start on a
    /// 64 MiB boundary (glibc reserves each such heap 64 MiB aligned).
    static func arenaHeaps(pid: Int32) throws -> Int {
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        return maps.split(separator: "\n").filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 5, fields[1] == "rw-p", let start = UInt64(fields[0].split(separator: "-")[0], radix: 16) else { return false }
            return start % (64 << 20) == 0
        }.count
    }

    /// Six threads scraping 150 times each, twice, with the checks running every 0.2 s.
    static func load(_ exporter: Exporter) {
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            for _ in 0..<150 { _ = try? RawHTTP.request(port: exporter.metricsPort, path: "/metrics") }
            for _ in 0..<150 { _ = try? RawHTTP.request(port: exporter.healthPort, path: "/health/memory") }
        }
    }

    @Test func arenasAreCappedUnlessTheEnvironmentChooses() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["MALLOC_ARENA_MAX"] = nil
        environment["GLIBC_TUNABLES"] = nil
        let capped = try Exporter(["--check-interval", "0.2"], environment: environment)
        Self.load(capped)
        let cappedHeaps = try Self.arenaHeaps(pid: capped.child.pid)
        #expect(capped.stop() == 0)

        environment["MALLOC_ARENA_MAX"] = "8"
        let chosen = try Exporter(["--check-interval", "0.2"], environment: environment)
        Self.load(chosen)
        let chosenHeaps = try Self.arenaHeaps(pid: chosen.child.pid)
        #expect(chosen.stop() == 0)
        print("malloc arenas: \(cappedHeaps + 1) capped, \(chosenHeaps + 1) with MALLOC_ARENA_MAX=8")
        #expect(cappedHeaps <= 1)
        #expect(chosenHeaps > cappedHeaps)
    }
}
