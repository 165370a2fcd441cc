/// One configuration key, declared once: its path, what it accepts, its default, the environment
/// variable or flag that also sets it, what SIGHUP does with it, and its documentation. The loader
/// reads the file through these declarations, the reload plan compares and adopts through them,
/// and the tables of docs/configuration.md and docs/auto-response.md are generated from them.
package struct ConfigurationKey: Sendable {
    /// What SIGHUP does when the key's value changed.
    package enum Reload: String, Sendable, CaseIterable {
        /// Applied at once, keeping levels, active alerts, history, cooldowns and undelivered alerts.
        case live
        /// Kept at its old value until a restart; the reload log names the key.
        case restart
    }

    /// The documentation table a key is listed in.
    package enum Table: String, Sendable, CaseIterable {
        case main = "configuration-keys"
        case prediction = "prediction-keys"
        case autoResponse = "auto-response-keys"
    }

    /// The dotted key path, as the file nests it (`monitoring.check_interval`).
    package let path: String
    package let reload: Reload
    /// What values are allowed, as the docs table and error messages put it.
    package let allowed: String
    /// The default, as the docs table shows it.
    package let defaultText: String
    /// The documentation's meaning column.
    package let doc: String
    /// True for keys this implementation adds to SPEC §3 (marked *new* in the docs).
    package let isNew: Bool
    /// The environment variable that also sets the key (it overrides the file).
    package let environment: String?
    /// The flag that also sets the key (it overrides the environment).
    package let flag: String?
    /// The key `<path>_file` names a file holding the value (a Kubernetes or Docker secret).
    package let fileVariant: Bool
    package let table: Table
    /// Keys with one row label share one docs row (the three thresholds of a component, the three
    /// levels' actions).
    package let row: String?
    /// Text from an environment variable or a flag is read as a number.
    package var takesNumber = false

    /// Reads the key out of its parent section (the reader's object) into the configuration.
    let read: @Sendable (inout ConfigurationLoader.Reader, String, inout MonitorConfiguration) -> Void
    /// Whether two configurations differ in this key.
    let differs: @Sendable (MonitorConfiguration, MonitorConfiguration) -> Bool
    /// Copies this key's value from the second configuration into the first.
    let adopt: @Sendable (inout MonitorConfiguration, MonitorConfiguration) -> Void
    /// Values of the right type to try the key with (tests): at least one differs from the default.
    package let samples: [JSONValue]

    /// The parent section's path and the key's own name.
    package var parentAndName: (parent: String, name: String) {
        guard let dot = path.lastIndex(of: ".") else { return ("", path) }
        return (String(path[..<dot]), String(path[path.index(after: dot)...]))
    }

    init(
        path: String, reload: Reload, allowed: String, defaultText: String, doc: String, isNew: Bool, environment: String?, flag: String?,
        fileVariant: Bool, table: Table, row: String?, samples: [JSONValue],
        read: @escaping @Sendable (inout ConfigurationLoader.Reader, String, inout MonitorConfiguration) -> Void,
        differs: @escaping @Sendable (MonitorConfiguration, MonitorConfiguration) -> Bool,
        adopt: @escaping @Sendable (inout MonitorConfiguration, MonitorConfiguration) -> Void
    ) {
        self.path = path
        self.reload = reload
        self.allowed = allowed
        self.defaultText = defaultText
        self.doc = doc
        self.isNew = isNew
        self.environment = environment
        self.flag = flag
        self.fileVariant = fileVariant
        self.table = table
        self.row = row
        self.samples = samples
        self.read = read
        self.differs = differs
        self.adopt = adopt
    }

    /// A key stored in one property of the configuration.
    static func stored<T: Equatable & Sendable>(
        _ path: String, _ property: WritableKeyPath<MonitorConfiguration, T>, _ kind: ValueKind<T>, _ reload: Reload,
        new isNew: Bool = false, env: String? = nil, flag: String? = nil, file: Bool = false, default defaultText: String? = nil,
        table: Table = .main, row: String? = nil, _ doc: String
    ) -> ConfigurationKey {
        var key = storedKey(path, property, kind, reload, new: isNew, env: env, flag: flag, file: file, default: defaultText, table: table, row: row, doc)
        key.takesNumber = kind.takesNumber
        return key
    }

    private static func storedKey<T: Equatable & Sendable>(
        _ path: String, _ property: WritableKeyPath<MonitorConfiguration, T>, _ kind: ValueKind<T>, _ reload: Reload,
        new isNew: Bool, env: String?, flag: String?, file: Bool, default defaultText: String?, table: Table, row: String?, _ doc: String
    ) -> ConfigurationKey {
        // A key path is an immutable value; the standard library does not mark it Sendable.
        nonisolated(unsafe) let property = property
        return ConfigurationKey(
            path: path, reload: reload, allowed: kind.allowed, defaultText: defaultText ?? kind.show(MonitorConfiguration()[keyPath: property]),
            doc: doc, isNew: isNew, environment: env, flag: flag, fileVariant: file, table: table, row: row, samples: kind.samples,
            read: { reader, name, configuration in
                if let value = kind.read(&reader, name) { configuration[keyPath: property] = value }
                if file, let check = kind.fileCheck,
                    let text = reader.secretFile(name + "_file", instead: name, check: check, allowed: kind.fileAllowed),
                    let value = kind.fromFile(text)
                {
                    configuration[keyPath: property] = value
                }
            },
            differs: { $0[keyPath: property] != $1[keyPath: property] },
            adopt: { $0[keyPath: property] = $1[keyPath: property] })
    }

    /// A key stored in an optional property: absent means nil, shown as "—".
    static func optional<T: Equatable & Sendable>(
        _ path: String, _ property: WritableKeyPath<MonitorConfiguration, T?>, _ kind: ValueKind<T>, _ reload: Reload,
        new isNew: Bool = false, env: String? = nil, flag: String? = nil, file: Bool = false, default defaultText: String? = nil,
        table: Table = .main, row: String? = nil, _ doc: String
    ) -> ConfigurationKey {
        stored(
            path, property, kind.optional, reload, new: isNew, env: env, flag: flag, file: file, default: defaultText, table: table, row: row, doc)
    }
}

/// A type of value a key accepts: how the reader takes it, how it is allowed and shown.
struct ValueKind<T: Equatable & Sendable>: Sendable {
    let allowed: String
    let read: @Sendable (inout ConfigurationLoader.Reader, String) -> T?
    let show: @Sendable (T) -> String
    let samples: [JSONValue]
    /// For keys with a `_file` variant: what a file's text must satisfy, and the value it gives.
    var fileCheck: (@Sendable (String) -> Bool)? = nil
    var fromFile: @Sendable (String) -> T? = { _ in nil }
    var fileAllowed = ""
    /// Text from an environment variable or a flag is read as a number.
    var takesNumber = false

    /// The same kind for an optional property.
    var optional: ValueKind<T?> {
        let base = self
        return ValueKind<T?>(
            allowed: allowed, read: { base.read(&$0, $1).map { Optional($0) } }, show: { $0.map(base.show) ?? "—" }, samples: samples,
            fileCheck: fileCheck, fromFile: { base.fromFile($0).map { Optional($0) } }, fileAllowed: fileAllowed, takesNumber: takesNumber)
    }
}

extension ValueKind where T == Double {
    /// A number within bounds. The docs show `A–B` (both inclusive) or `> A, ≤ B`.
    static func number(above: Double? = nil, atLeast: Double? = nil, atMost: Double? = nil, unit: String = "") -> ValueKind {
        let f = JSONValue.format
        var parts: [String] = []
        if let atLeast, let atMost {
            parts.append("\(f(atLeast))–\(f(atMost))")
        } else {
            if let above { parts.append("> \(f(above))") }
            if let atLeast { parts.append("≥ \(f(atLeast))") }
            if let atMost { parts.append("≤ \(f(atMost))") }
        }
        let low = atLeast ?? (above.map { $0 + 0.5 } ?? 0)
        let high = atMost ?? low + 1000
        return ValueKind(
            allowed: parts.isEmpty ? "number" : parts.joined(separator: ", "),
            read: { $0.number($1, above: above, atLeast: atLeast, atMost: atMost) }, show: { f($0) },
            samples: [.number(low), .number(high), .number((low + high) / 2)], takesNumber: true)
    }
}

extension ValueKind where T == Int {
    static func integer(_ range: ClosedRange<Int>) -> ValueKind {
        ValueKind(
            allowed: "\(range.lowerBound)–\(range.upperBound)", read: { $0.integer($1, in: range) }, show: { "\($0)" },
            samples: [.number(Double(range.lowerBound)), .number(Double(range.upperBound))], takesNumber: true)
    }

    static let port = ValueKind(allowed: "1–65535", read: { $0.port($1) }, show: { "\($0)" }, samples: [.number(19_999), .number(29_999)], takesNumber: true)
}

extension ValueKind where T == Bool {
    static let bool = ValueKind(allowed: "bool", read: { $0.bool($1) }, show: { "\($0)" }, samples: [.bool(true), .bool(false)])
}

extension ValueKind where T == String {
    /// A non-empty string; `allowed` says what it is (a path, an address).
    static func string(_ allowed: String = "string") -> ValueKind {
        ValueKind(allowed: allowed, read: { $0.string($1, nonEmpty: true) }, show: { "`\($0)`" }, samples: [.string("/tmp/memory-monitor-sample")])
    }

    /// A value that is never echoed (passwords, tokens).
    static let secret = ValueKind(
        allowed: "non-empty string", read: { $0.secret($1) }, show: { _ in "(secret)" }, samples: [.string("sample-secret")],
        fileCheck: { !$0.isEmpty }, fromFile: { $0 }, fileAllowed: "a file holding the secret (not empty)")

    /// An http:// or https:// URL, never echoed (webhook URLs carry secrets).
    static let url = ValueKind(
        allowed: "http(s) URL", read: { $0.url($1) }, show: { "`\($0)`" }, samples: [.string("http://127.0.0.1:9/sample")],
        fileCheck: ConfigurationLoader.isHTTPURL, fromFile: { $0 }, fileAllowed: "a file holding an http:// or https:// URL")

    /// One of the listed words.
    static func oneOf(_ words: [String]) -> ValueKind {
        ValueKind(
            allowed: words.map { "`\($0)`" }.joined(separator: ", "),
            read: { reader, name in
                guard let v = reader.string(name, nonEmpty: true) else { return nil }
                guard words.contains(v) else {
                    reader.problem(name, value: "\"\(v)\"", allowed: "one of " + words.joined(separator: ", "))
                    return nil
                }
                return v
            }, show: { "`\($0)`" }, samples: words.map { .string($0) })
    }
}

extension ValueKind where T == [String] {
    static let urls = ValueKind(
        allowed: "array of URLs", read: { $0.urlArray($1) }, show: { $0.isEmpty ? "[]" : "\($0.count) URLs" },
        samples: [.array([.string("http://127.0.0.1:9/a")])])
}

/// What SIGHUP does with a new configuration, key by key: the changed keys whose policy is
/// `live` are adopted, the changed keys whose policy is `restart` keep their old value and are named.
package struct ReloadPlan: Sendable, Equatable {
    /// Changed keys that are applied now.
    package var applied: [String] = []
    /// Changed keys that keep their old value until a restart.
    package var needsRestart: [String] = []
    /// The configuration to put in force: the old one with the applied keys' new values.
    package var configuration: MonitorConfiguration

    package init(from old: MonitorConfiguration, to new: MonitorConfiguration, keys: [ConfigurationKey] = ConfigurationSchema.keys) {
        configuration = old
        for key in keys where key.differs(old, new) {
            switch key.reload {
            case .live:
                key.adopt(&configuration, new)
                applied.append(key.path)
            case .restart:
                needsRestart.append(key.path)
            }
        }
    }
}
