import Foundation
import Synchronization
import TestSupport
import Testing

/// The exporter-toolkit web configuration on the built binary: TLS with a CA made here by
/// openssl, bcrypt basic auth, mTLS, certificate reload, and a real Prometheus scraping over HTTPS.
@Suite("TLS and basic auth end to end", .serialized, .offCooperativePool)
struct WebConfigurationIntegrationTests {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, in a new directory.
    final class PKI: @unchecked Sendable {
        let directory = NSTemporaryDirectory() + "mm-pki-\(UUID().uuidString)"

        init() throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                         "-days", "2", "-subj", "/CN=memory-monitor test CA"])
            try issue("server", subject: "/CN=127.0.0.1", serial: "1001", san: true)
            try issue("client", subject: "/CN=prometheus", serial: "2001", san: false)
        }

        func openssl(_ arguments: [String]) throws {
            let child = try ChildProcess("/usr/bin/openssl", arguments, currentDirectory: directory)
            guard child.waitForExit(seconds: 30) == 0 else { throw RawHTTPError(description: "openssl \(arguments.first ?? ""): \(child.stderr)") }
        }

        /// Writes NAME.key and NAME.crt signed by the CA.
        func issue(_ name: String, subject: String, serial: String, san: Bool) throws {
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
            try (san ? "subjectAltName=IP:127.0.0.1\n" : "extendedKeyUsage=clientAuth\n").write(toFile: directory + "/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", serial, "-out", "\(name).crt", "-days", "2",
                         "-extfile", "\(name).ext"])
        }

        func path(_ name: String) -> String { directory + "/" + name }
    }

    /// A bcrypt hash of `password` (libxcrypt through Python's crypt module; cost 5 keeps tests fast).
    static func bcrypt(_ password: String, cost: Int = 5) throws -> String {
        let r = try TestEnvironment.run(
            "/usr/bin/python3",
            ["-W", "ignore", "-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=\(1 << cost))))", password])
        let hash = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard hash.hasPrefix("$2") else { throw RawHTTPError(description: "no bcrypt: \(r.stderr)") }
        return hash
    }

    /// curl's HTTP status ("000" when no HTTP exchange happened) and exit code.
    func curl(_ arguments: [String]) throws -> (code: String, status: Int32) {
        let r = try TestEnvironment.run("/usr/bin/curl", ["-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"] + arguments)
        return (r.stdout, r.status)
    }

    func start(_ pki: PKI, web: String, extraConfig: String = "") throws -> Exporter {
        let webPath = pki.path("web-\(UUID().uuidString).yml")
        try web.write(toFile: webPath, atomically: true, encoding: .utf8)
        return try Exporter(["--web.config.file", webPath], config: #"{"server": {"tls_reload_seconds": 1}\#(extraConfig)}"#)
    }

    @Test func basicAuthOverTLS() throws {
        let pki = try PKI()
        let hash = try Self.bcrypt("correct horse")
        let exporter = try start(
            pki,
            web: """
                tls_server_config:
                  cert_file: server.crt
                  key_file: server.key
                basic_auth_users:
                  alice: '\(hash)'
                http_server_config:
                  headers:
                    Strict-Transport-Security: max-age=31536000
                """)
        defer { exporter.stop() }
        let url = "https://127.0.0.1:\(exporter.healthPort)/health"
        #expect(try curl(["--cacert", pki.path("ca.crt"), "-u", "alice:correct horse", url]).code == "200")
        #expect(try curl(["--cacert", pki.path("ca.crt"), "-u", "alice:wrong", url]).code == "401")
        #expect(try curl(["--cacert", pki.path("ca.crt"), "-u", "mallory:correct horse", url]).code == "401")
        #expect(try curl(["--cacert", pki.path("ca.crt"), url]).code == "401")
        // Plain HTTP to the TLS port gets no HTTP answer.
        let plain = try curl(["http://127.0.0.1:\(exporter.healthPort)/health"])
        #expect(plain.code == "000" && plain.status != 0)
        // The metrics port is protected the same way; headers are added.
        let metrics = try TestEnvironment.run(
            "/usr/bin/curl", ["-s", "-m", "5", "-D", "-", "-o", "/dev/null", "--cacert", pki.path("ca.crt"), "-u", "alice:correct horse",
                              "https://127.0.0.1:\(exporter.metricsPort)/metrics"])
        #expect(metrics.stdout.hasPrefix("HTTP/1.1 200"))
        #expect(metrics.stdout.lowercased().contains("strict-transport-security: max-age=31536000"))
        #expect(try curl(["--cacert", pki.path("ca.crt"), "https://127.0.0.1:\(exporter.metricsPort)/metrics"]).code == "401")
        // Four refusals counted (a scrape may serve the exposition of a second ago: poll).
        #expect(waitFor(5) {
            let text = (try? TestEnvironment.run(
                "/usr/bin/curl", ["-s", "-m", "5", "--cacert", pki.path("ca.crt"), "-u", "alice:correct horse", "https://127.0.0.1:\(exporter.metricsPort)/metrics"]).stdout) ?? ""
            return text.contains(#"memory_http_rejected_total{reason="unauthorized"} 4"#)
        })
        #expect(!exporter.child.stderr.contains("correct horse"))
    }

    @Test func mutualTLSRefusesAClientWithoutACertificate() throws {
        let pki = try PKI()
        let exporter = try start(
            pki,
            web: """
                tls_server_config:
                  cert_file: server.crt
                  key_file: server.key
                  client_ca_file: ca.crt
                  client_auth_type: RequireAndVerifyClientCert
                  min_version: TLS13
                """)
        defer { exporter.stop() }
        let url = "https://127.0.0.1:\(exporter.healthPort)/health"
        let without = try curl(["--cacert", pki.path("ca.crt"), url])
        #expect(without.code == "000" && without.status != 0)
        #expect(try curl(["--cacert", pki.path("ca.crt"), "--cert", pki.path("client.crt"), "--key", pki.path("client.key"), url]).code == "200")
        // TLS 1.2 is refused with min_version TLS13.
        let old = try curl(["--cacert", pki.path("ca.crt"), "--cert", pki.path("client.crt"), "--key", pki.path("client.key"), "--tls-max", "1.2", url])
        #expect(old.code == "000")
    }

    /// New certificate files on disk are served to new connections without a restart.
    @Test func certificatesReloadWhenTheFilesChange() throws {
        let pki = try PKI()
        let exporter = try start(pki, web: "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
        defer { exporter.stop() }
        func servedSerial() throws -> String {
            let script = "echo | openssl s_client -connect 127.0.0.1:\(exporter.healthPort) 2>/dev/null | openssl x509 -noout -serial"
            return try TestEnvironment.run("/bin/sh", ["-c", script]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try servedSerial() == "serial=03E9")  // 1001
        try pki.issue("server", subject: "/CN=127.0.0.1", serial: "1002", san: true)
        #expect(waitFor(10) { (try? servedSerial()) == "serial=03EA" }, "\(exporter.child.stderr)")
        #expect(exporter.child.stderr.contains("TLS certificate reloaded"))
        #expect(try curl(["--cacert", pki.path("ca.crt"), "https://127.0.0.1:\(exporter.healthPort)/health"]).code == "200")
        // A broken key keeps the previous certificate in use and says why.
        try "not a key".write(toFile: pki.path("server.key"), atomically: true, encoding: .utf8)
        #expect(waitFor(10) { exporter.child.stderr.contains("could not be loaded; the previous certificate stays in use") })
        #expect(try curl(["--cacert", pki.path("ca.crt"), "https://127.0.0.1:\(exporter.healthPort)/health"]).code == "200")
    }

    /// A real Prometheus scrapes over HTTPS with basic_auth and tls_config: up == 1.
    @Test func prometheusScrapesOverHTTPSWithBasicAuth() throws {
        let pki = try PKI()
        let hash = try Self.bcrypt("scrape-pass")
        let exporter = try start(
            pki,
            web: """
                tls_server_config:
                  cert_file: server.crt
                  key_file: server.key
                basic_auth_users:
                  prometheus: '\(hash)'
                """)
        defer { exporter.stop() }
        let prometheus = try PrometheusServer(
            config: """
                global: {scrape_interval: 1s, scrape_timeout: 1s}
                scrape_configs:
                  - job_name: secure
                    scheme: https
                    tls_config: {ca_file: \(pki.path("ca.crt"))}
                    basic_auth: {username: prometheus, password: scrape-pass}
                    static_configs: [{targets: ["127.0.0.1:\(exporter.metricsPort)"]}]
                """)
        defer { prometheus.stop() }
        #expect(prometheus.waitForData(#"up{job="secure"} == 1"#, seconds: 30))
        #expect(prometheus.waitForData(#"memory_checks_total{job="secure"}"#, seconds: 30))
    }

    /// Users at cost 12 (Python bcrypt's default). A wrong user costs what a wrong password costs
    /// (the decoy has the users' cost). Then 16 threads flood wrong passwords from 127.0.0.1 for
    /// 5 s: that address is backed off (429 with Retry-After) after a handful of tries, so few
    /// hashes are computed, while a scraper with good credentials on 127.0.0.2 is served every
    /// time.
    @Test func aLoginFloodIsBackedOffAndAGoodScraperIsServed() throws {
        let directory = NSTemporaryDirectory() + "mm-auth-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hash = try Self.bcrypt("scrape-pass", cost: 12)
        #expect(hash.hasPrefix("$2b$12$"))
        try "basic_auth_users:\n  prometheus: '\(hash)'\n".write(toFile: directory + "/web.yml", atomically: true, encoding: .utf8)
        let exporter = try Exporter(["--web.config.file", directory + "/web.yml"])
        defer { exporter.stop() }
        let port = exporter.healthPort
        let metricsPort = exporter.metricsPort
        @Sendable func basic(_ user: String, _ password: String) -> [(String, String)] {
            [("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())]
        }
        func timed(_ user: String, _ password: String, from source: String) -> (status: Int, ms: Double) {
            let clock = ContinuousClock()
            let started = clock.now
            let status = (try? RawHTTP.request(port: port, path: "/health", headers: basic(user, password), source: source))?.status ?? 0
            let elapsed = clock.now - started
            return (status, Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        // The scraper logs in once before the flood.
        #expect(timed("prometheus", "scrape-pass", from: "127.0.0.2").status == 200)
        // Timing: four wrong users and four wrong passwords, each from an address of its own kind.
        let wrongUser = (0..<4).map { timed("mallory\($0)", "scrape-pass", from: "127.0.0.3") }
        let wrongPassword = (0..<4).map { timed("prometheus", "guess\($0)", from: "127.0.0.4") }
        #expect((wrongUser + wrongPassword).allSatisfy { $0.status == 401 })
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

        let cpuBefore = try Self.cpuSeconds(exporter.child.pid)
        let stop = Flag()
        let counts = Counts()
        let started = ContinuousClock.now
        var attackers: [Thread] = []
        for t in 0..<16 {
            let thread = Thread {
                var i = 0
                // Bounded: 5 s and 2000 requests per thread.
                while !stop.isSet && ContinuousClock.now - started < .seconds(5) && i < 2000 {
                    i += 1
                    let result = try? RawHTTP.request(port: metricsPort, path: "/metrics", headers: basic(t % 2 == 0 ? "prometheus" : "admin\(i)", "guess-\(t)-\(i)"))
                    counts.add(result?.status ?? 0, retryAfter: result?.headers["retry-after"] != nil)
                }
            }
            thread.start()
            attackers.append(thread)
        }
        var attempted = 0, served = 0
        while ContinuousClock.now - started < .seconds(5) && attempted < 100 {
            attempted += 1
            if (try? RawHTTP.request(port: metricsPort, path: "/metrics", headers: basic("prometheus", "scrape-pass"), source: "127.0.0.2"))?.status == 200 {
                served += 1
            }
            usleep(100_000)
        }
        stop.set()
        while attackers.contains(where: \.isExecuting) { usleep(10_000) }
        let wall = (ContinuousClock.now - started)
        let cpu = try Self.cpuSeconds(exporter.child.pid) - cpuBefore
        let seen = counts.snapshot
        #expect(served == attempted, "the good scraper was served \(served) of \(attempted) times during the flood")
        #expect(seen.byStatus[429, default: 0] > 100, "\(seen)")
        #expect(seen.retryAfter == seen.byStatus[429, default: 0] + seen.byStatus[503, default: 0])
        // Hashes computed for the flood: the five before the back-off, then one each time a
        // back-off ends (1 s, 2 s, 4 s: three in 5 s); tries queued behind a failure that starts a
        // back-off are dropped unhashed.
        #expect(seen.byStatus[401, default: 0] <= 5 + 4, "\(seen)")
        #expect(seen.byStatus[200, default: 0] == 0)
        let text = (try? RawHTTP.request(port: metricsPort, path: "/metrics", headers: basic("prometheus", "scrape-pass"), source: "127.0.0.2"))?.bodyText ?? ""
        #expect(text.contains(#"memory_http_rejected_total{reason="auth_backoff"}"#))
        #expect(exporter.child.stderr.contains("basic auth: backing off a client after repeated failures"))
        #expect(exporter.child.stderr.contains("client=127.0.0.1"))
        print(
            "auth at cost 12: wrong user median \(Int(median(wrongUser.map(\.ms)))) ms, wrong password median \(Int(median(wrongPassword.map(\.ms)))) ms; "
                + "flood of 16 threads for \(wall): \(seen.total) tries answered \(seen.byStatus.sorted { $0.key < $1.key }), "
                + "monitor CPU \(String(format: "%.2f", cpu / (Double(wall.components.seconds) + 1e-18 * Double(wall.components.attoseconds)))) cores; "
                + "good scraper \(served)/\(attempted) served")
        #expect(exporter.stop() == 0)
    }

    /// utime + stime of a process, in seconds.
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
        return (Double(fields[11])! + Double(fields[12])!) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Statuses the flood saw, across threads.
    final class Counts: Sendable {
        struct Snapshot {
            var byStatus: [Int: Int] = [:]
            var retryAfter = 0
            var total: Int { byStatus.values.reduce(0, +) }
        }
        private let state = Mutex(Snapshot())
        func add(_ status: Int, retryAfter: Bool) {
            state.withLock {
                $0.byStatus[status, default: 0] += 1
                if retryAfter { $0.retryAfter += 1 }
            }
        }
        var snapshot: Snapshot { state.withLock { $0 } }
    }

    @Test func aBadWebConfigurationExits2BeforeBinding() throws {
        let pki = try PKI()
        let path = pki.path("bad.yml")
        try """
            tls_server_config:
              cert_file: server.crt
              cipher_suites: [TLS_AES_128_GCM_SHA256]
              client_auth_type: RequireAnyClientCert
            basic_auth_users:
              bob: plaintext
            rate_limit: {interval: 1s}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let child = try ChildProcess(TestEnvironment.binary, ["--web.config.file", path, "--check-config"])
        #expect(child.waitForExit(seconds: 20) == 2)
        let output = child.stderr
        for expected in ["tls_server_config.key_file: missing", "tls_server_config.cipher_suites: set is not allowed",
                         "tls_server_config.client_auth_type: \"RequireAnyClientCert\"", "basic_auth_users.bob: a value is not allowed",
                         "rate_limit: set is not allowed"] {
            #expect(output.contains(expected), "\(output)")
        }
        #expect(!output.contains("plaintext"))
    }
}
