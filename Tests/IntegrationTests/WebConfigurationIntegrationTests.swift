import Foundation
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

    /// A bcrypt hash of `password` (libxcrypt through Python's crypt module, cost 5 to keep tests fast).
    static func bcrypt(_ password: String) throws -> String {
        let r = try TestEnvironment.run("/usr/bin/python3", ["-W", "ignore", "-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))", password])
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
