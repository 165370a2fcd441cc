import Foundation
import Testing
import TestSupport

@testable import MemoryMonitor

/// Each key is declared once (`ConfigurationSchema`): these tests hold the reader, the reload plan
/// and the docs to that one declaration.
@Suite("Configuration schema", .offCooperativePool)
struct ConfigurationSchemaTests {
    /// The configuration the defaults give with one key set to `value` (by its path, in the file).
    static func configuration(_ key: ConfigurationKey, _ value: JSONValue) -> (MonitorConfiguration, [String]) {
        var nested = value
        for part in key.path.split(separator: ".").reversed() {
            var object = JSONObject()
            object[String(part)] = nested
            nested = .object(object)
        }
        guard case .object(let root) = nested else { return (MonitorConfiguration(), ["not an object"]) }
        var loader = ConfigurationLoader()
        loader.apply(root: root)
        return (loader.configuration, loader.problems.map(\.description) + loader.unknownKeys)
    }

    /// A sample value of the key that differs from its default, with the configuration it gives.
    static func changed(_ key: ConfigurationKey) -> MonitorConfiguration? {
        let defaults = MonitorConfiguration()
        for sample in key.samples {
            let (configuration, problems) = configuration(key, sample)
            #expect(problems.isEmpty, "\(key.path) = \(sample.serialized): \(problems)")
            if key.differs(defaults, configuration) { return configuration }
        }
        return nil
    }

    /// The keys that have nothing to compare: accepted for compatibility, or stored through another key.
    static let withoutValue: Set<String> = ["performance.async_processing", "performance.batch_processing", "alerting.webhook_header_files"]

    @Test func pathsAreUniqueAndEveryKeyIsRead() {
        let paths = ConfigurationSchema.keys.map(\.path)
        #expect(Set(paths).count == paths.count)
        for key in ConfigurationSchema.keys where !Self.withoutValue.contains(key.path) {
            #expect(Self.changed(key) != nil, "no sample of \(key.path) changes the configuration")
        }
    }

    /// SIGHUP follows each key's declared policy: a live key's new value is in force after the
    /// reload and only that key is reported applied; a restart key keeps its old value and only it
    /// is reported as needing a restart.
    @Test func everyKeyHasAReloadPolicyThatSIGHUPFollows() {
        let defaults = MonitorConfiguration()
        var checked: [ConfigurationKey.Reload: Int] = [:]
        for key in ConfigurationSchema.keys where !Self.withoutValue.contains(key.path) {
            guard let new = Self.changed(key) else { continue }
            let plan = ReloadPlan(from: defaults, to: new)
            switch key.reload {
            case .live:
                #expect(plan.applied == [key.path] && plan.needsRestart.isEmpty, "\(key.path): \(plan.applied) \(plan.needsRestart)")
                #expect(plan.configuration == new, "\(key.path) was not applied")
            case .restart:
                #expect(plan.needsRestart == [key.path] && plan.applied.isEmpty, "\(key.path): \(plan.applied) \(plan.needsRestart)")
                #expect(plan.configuration == defaults, "\(key.path) changed though it needs a restart")
            }
            checked[key.reload, default: 0] += 1
        }
        #expect(checked[.live, default: 0] > 40 && checked[.restart, default: 0] > 40, "\(checked)")
    }

    /// The leaves of a value: the stored properties of nested structs, by dotted path, with their
    /// values as text (an optional, an enum, an array or a dictionary is one leaf).
    static func leaves(_ value: Any, path: String = "") -> [String: String] {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .struct, !mirror.children.isEmpty else { return [path: String(describing: value)] }
        var found: [String: String] = [:]
        for child in mirror.children {
            guard let label = child.label else { continue }
            found.merge(leaves(child.value, path: path.isEmpty ? label : path + "." + label)) { a, _ in a }
        }
        return found
    }

    /// Every stored property of `MonitorConfiguration` is set by some declared key: a property
    /// added without a declaration would be neither read, documented nor reloaded.
    @Test func everyPropertyHasAKey() {
        let defaults = Self.leaves(MonitorConfiguration())
        var touched: Set<String> = []
        for key in ConfigurationSchema.keys where !Self.withoutValue.contains(key.path) {
            guard let new = Self.changed(key) else { continue }
            for (path, value) in Self.leaves(new) where defaults[path] != value { touched.insert(path) }
        }
        let untouched = Set(defaults.keys).subtracting(touched)
        #expect(untouched.isEmpty, "properties no key sets: \(untouched.sorted())")
        #expect(defaults.count > 90, "\(defaults.count) leaves")
    }

    /// The docs' tables come from the declarations. `MEMORY_MONITOR_UPDATE_DOCS=1` rewrites them
    /// (what scripts/generate-config-docs.sh does).
    @Test func theDocsTablesAreGenerated() throws {
        let blocks = ConfigurationReference.blocks()
        var seen: Set<String> = []
        for file in ["docs/configuration.md", "docs/auto-response.md"] {
            let path = TestEnvironment.packageRoot + "/" + file
            let text = try String(contentsOfFile: path, encoding: .utf8)
            seen.formUnion(ConfigurationReference.blockNames(in: text))
            let fresh = ConfigurationReference.spliced(text, blocks: blocks)
            if ProcessInfo.processInfo.environment["MEMORY_MONITOR_UPDATE_DOCS"] == "1" {
                try fresh.write(toFile: path, atomically: true, encoding: .utf8)
            } else {
                #expect(fresh == text, "\(file) is out of date: run scripts/generate-config-docs.sh")
            }
        }
        #expect(seen == Set(blocks.keys), "blocks without a place in the docs: \(Set(blocks.keys).subtracting(seen).sorted())")
        // Every key appears in a generated table (grouped rows name the group).
        let all = blocks.values.joined(separator: "\n")
        for key in ConfigurationSchema.keys {
            let label = key.row?.replacing("<level>", with: "{warning,critical,emergency}") ?? key.path
            #expect(all.contains("`\(label)"), "\(key.path) is not in the docs")
        }
    }

    /// An environment variable and a flag go through the key's own rules.
    @Test func environmentAndFlagsUseTheKeysRules() {
        var loader = ConfigurationLoader()
        loader.apply(environment: ["MEMORY_HEALTH_PORT": "8181", "MEMORY_ACTION_TOKEN": "12345", "MONITORING_LOG_LEVEL": "WARN", "ALERT_EMAIL": ""])
        #expect(loader.problems.isEmpty)
        #expect(loader.configuration.monitoring.healthPort == 8181)
        #expect(loader.configuration.security.actionToken == "12345")
        #expect(loader.configuration.logging.level == "warning")
        loader.setCheckInterval(0.01, source: "--check-interval")
        loader.apply(environment: ["ALERT_EMAIL": "nobody"])
        #expect(
            loader.problems.map(\.description) == [
                "--check-interval: 0.01 is not allowed; expected a number >= 0.1 and <= 86400",
                "ALERT_EMAIL: \"nobody\" is not allowed; expected an email address",
            ])
    }
}
