#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the SPEC §3 JSON file and the SPEC's environment variables into a `MonitorConfiguration`,
/// collecting every problem with its key path, and naming unknown keys as warnings.
package struct ConfigurationLoader {
    /// Problems found so far; the configuration is unusable while this is non-empty.
    package private(set) var problems: [ConfigurationProblem] = []
    /// Unknown keys, as `key path` strings; they are ignored.
    package private(set) var unknownKeys: [String] = []

    /// Things that load but look wrong: placeholder destinations copied from an example.
    package var warnings: [String] {
        var found: [String] = []
        let a = configuration.alerting
        let destinations: [(String, String?)] =
            [("alerting.webhook_url", a.webhookURL), ("alerting.slack_webhook", a.slackWebhook), ("alerting.alertmanager_url", a.alertmanagerURL)]
            + a.alertmanagerURLs.map { ("alerting.alertmanager_urls", $0) } + [("alerting.smtp.host", a.smtp.host), ("alerting.email", a.email)]
        for (key, value) in destinations {
            guard let value, Self.isPlaceholder(value) else { continue }
            // The key only: a webhook URL may hold a secret even when it is a placeholder.
            found.append("\(key) looks like a placeholder (example.com, your-webhook.com, REPLACE_ME): alerts sent there go nowhere")
        }
        return found
    }

    static func isPlaceholder(_ value: String) -> Bool {
        let v = value.lowercased()
        return ["example.com", "example.org", "example.net", "your-webhook", "yourcompany.com", "replace_me", ".invalid"].contains { v.contains($0) }
    }
    /// The configuration built so far.
    package var configuration: MonitorConfiguration

    /// Starts from `base` (the embedded defaults unless given).
    package init(base: MonitorConfiguration = MonitorConfiguration()) {
        self.configuration = base
    }

    /// Throws when problems were found; otherwise returns the configuration.
    package func validated() throws(ConfigurationError) -> MonitorConfiguration {
        var all = problems
        all += Self.crossChecks(configuration)
        if !all.isEmpty { throw ConfigurationError(problems: all) }
        return configuration
    }

    // MARK: File

    /// The largest configuration file read.
    package static let maximumFileBytes = 1 << 20

    /// Reads a configuration file's text: at most 1 MiB, UTF-8 (a byte-order mark is skipped;
    /// invalid UTF-8 is an error naming its byte offset).
    package static func readFile(_ path: String) throws(ConfigurationError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigurationError(fileError: "cannot read configuration file \(path): \(String(cString: strerror(errno)))")
        }
        guard Int(info.st_size) <= maximumFileBytes else {
            throw ConfigurationError(fileError: "configuration file \(path) is too large: \(info.st_size) bytes; the limit is 1 MiB")
        }
        let bytes: [UInt8]
        switch FileSystem.readBytes(path, limit: maximumFileBytes + 1) {
        case .success(let read): bytes = read
        case .failure(let failure): throw ConfigurationError(fileError: "cannot read configuration file \(path): \(failure)")
        }
        guard bytes.count <= maximumFileBytes else {
            throw ConfigurationError(fileError: "configuration file \(path) is too large: over 1 MiB")
        }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        if let offset = invalidUTF8Offset(body) {
            throw ConfigurationError(fileError: "\(path): invalid UTF-8 at byte offset \(offset + (bytes.count - body.count))")
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// The offset of the first byte that is not valid UTF-8, or nil.
    static func invalidUTF8Offset(_ bytes: ArraySlice<UInt8>) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// Applies a JSON document (the file's text). Invalid JSON throws with line and column.
    package mutating func apply(json text: String, source: String) throws(ConfigurationError) {
        let root: JSONValue
        do {
            root = try JSONParser.parse(text)
        } catch {
            throw ConfigurationError(fileError: "\(source): \(error)")
        }
        guard case .object(let object) = root else {
            throw ConfigurationError(fileError: "\(source): the top level must be a JSON object, found \(root.kindDescription)")
        }
        apply(root: object)
    }

    /// Reads every declared key (`ConfigurationSchema.keys`) from its section; keys no declaration
    /// asked for are unknown.
    mutating func apply(root: JSONObject) {
        var sections = SectionReaders(root: root)
        let targetBefore = configuration.monitoring.target
        for key in ConfigurationSchema.keys {
            let (parent, name) = key.parentAndName
            guard sections.open(parent) else { continue }
            key.read(&sections.readers[parent]!, name, &configuration)
        }
        if var target = sections.readers["monitoring.target"] {
            let given = ConfigurationSchema.targetKeys.filter { target.has($0) }
            if given.count > 1 {
                target.problem("", value: "\(given.count) targets", allowed: "at most one of pid, pidfile, process_name, match")
                sections.readers["monitoring.target"] = target
                configuration.monitoring.target = targetBefore
            }
        }
        for reader in sections.finished() { merge(reader) }
    }

    /// The readers of the sections opened so far, by path ("" is the file's top level).
    struct SectionReaders {
        var readers: [String: Reader]
        /// Sections that are absent or not objects (the latter recorded as a problem).
        private var closed: Set<String> = []

        init(root: JSONObject) { readers = ["": Reader(object: root, path: "")] }

        /// Opens a section and its parents; false when one is absent or not an object.
        mutating func open(_ path: String) -> Bool {
            if readers[path] != nil { return true }
            if closed.contains(path) { return false }
            let dot = path.lastIndex(of: ".")
            let parent = dot.map { String(path[..<$0]) } ?? ""
            let name = dot.map { String(path[path.index(after: $0)...]) } ?? path
            guard open(parent), let child = readers[parent]!.section(name) else {
                closed.insert(path)
                return false
            }
            readers[path] = child
            return true
        }

        /// Every reader, finished (its unconsumed keys listed as unknown), outermost first.
        func finished() -> [Reader] {
            readers.keys.sorted { ($0.split(separator: ".").count, $0) < ($1.split(separator: ".").count, $1) }.map { path in
                var reader = readers[path]!
                reader.finish()
                return reader
            }
        }
    }

    // MARK: Environment and overrides

    /// Applies the environment variables the keys declare (SPEC §3), when set and not empty.
    package mutating func apply(environment env: [String: String]) {
        for key in ConfigurationSchema.keys {
            guard let name = key.environment, let text = env[name], !text.isEmpty else { continue }
            set(key, text: text, source: name)
        }
    }

    /// Sets a key from text (an environment variable or a flag) by the key's own rules; a problem
    /// names `source`. The text is read as a number when the key takes one, else as a string.
    package mutating func set(_ key: ConfigurationKey, text: String, source: String) {
        let value: JSONValue = key.takesNumber ? Double(text).map(JSONValue.number) ?? .string(text) : .string(text)
        var reader = Reader(object: [source: value], path: "")
        key.read(&reader, source, &configuration)
        problems += reader.problems
    }

    /// Sets the key at `path` from text; see `set(_:text:source:)`.
    package mutating func set(_ path: String, text: String, source: String) {
        guard let key = ConfigurationSchema.key(path) else { preconditionFailure("no configuration key \(path)") }
        set(key, text: text, source: source)
    }

    /// Sets a port from text (environment variable or flag), recording a problem under `name`.
    /// `allowsAnyFreePort` accepts 0, which lets the kernel pick a port (the log names it).
    package mutating func setPort(
        _ text: String, name: String, allowsAnyFreePort: Bool = false, _ assign: (inout MonitorConfiguration, Int) -> Void
    ) {
        let lowest = allowsAnyFreePort ? 0 : 1
        if let port = Int(text), (lowest...65535).contains(port) {
            assign(&configuration, port)
        } else {
            problems.append(ConfigurationProblem(keyPath: name, value: "\"\(text)\"", allowed: "a port number from \(lowest) to 65535"))
        }
    }

    /// Sets the log level from text (environment variable or flag), recording a problem under `source`.
    package mutating func setLogLevel(_ text: String, source: String) { set("logging.level", text: text, source: source) }

    /// Records a problem found by the caller (a flag's value, say).
    package mutating func report(_ problem: ConfigurationProblem) { problems.append(problem) }

    /// Below this a check loop burns a core for nothing: /proc does not change that fast.
    static let minimumCheckInterval = 0.1

    /// Sets the check interval from a flag, with the file's bounds.
    package mutating func setCheckInterval(_ seconds: Double, source: String) {
        set("monitoring.check_interval", text: JSONValue.format(seconds), source: source)
    }

    /// Sets the cgroup directory from a flag, with the file's rule.
    package mutating func setCgroup(_ path: String, source: String) { set("monitoring.cgroup", text: path, source: source) }

    static func cgroupProblem(_ path: String) -> String? {
        path.hasPrefix("/") ? nil : "an absolute cgroup directory such as /sys/fs/cgroup/kubepods.slice/..."
    }

    /// Sets the target from flags (each nil when not given), by the `monitoring.target` keys'
    /// rules: at most one, a positive pid, a pattern that compiles.
    package mutating func setTarget(pid: Int32?, pidfile: String?, processName: String?, processMatch: String?, sources: String) {
        let given = [
            ("pid", "--pid", pid.map { "\($0)" }), ("pidfile", "--pidfile", pidfile), ("process_name", "--process-name", processName),
            ("match", "--process-match", processMatch),
        ].compactMap { name, flag, text in text.map { (name, flag, $0) } }
        if given.count > 1 {
            report(ConfigurationProblem(keyPath: sources, value: "\(given.count) targets", allowed: "at most one"))
            return
        }
        for (name, flag, text) in given { set("monitoring.target." + name, text: text, source: flag) }
    }

    /// Why a `--process-match` / `monitoring.target.match` pattern is not a regular expression, or nil.
    package static func patternProblem(_ pattern: String) -> String? {
        do {
            _ = try Regex(pattern)
            return nil
        } catch {
            return "\(error)".split(separator: "\n").first.map(String.init) ?? "does not compile"
        }
    }

    /// Lower-cased level names; Python's "WARN"/"FATAL" spellings map to swift-log's.
    static func normalizedLogLevel(_ text: String) -> String? {
        let lower = text.lowercased()
        switch lower {
        case "warn": return "warning"
        case "fatal": return "critical"
        default: return MonitorConfiguration.logLevels.contains(lower) ? lower : nil
        }
    }

    /// A Prometheus label name.
    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !name.hasPrefix("__") else { return false }
        let isLetter = { (b: UInt8) in (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        return isLetter(first) && name.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// An RFC 9110 field name: one or more tchar.
    static func isHeaderName(_ name: String) -> Bool {
        !name.utf8.isEmpty && name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// An RFC 9110 field value: visible bytes (and obs-text), spaces and tabs inside, none at the ends.
    package static func isHeaderValue(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, let last = bytes.last else { return true }
        let isBlank = { (b: UInt8) in b == 0x20 || b == 0x09 }
        return !isBlank(first) && !isBlank(last) && bytes.allSatisfy { b in isBlank(b) || (b >= 0x21 && b != 0x7F) }
    }

    /// A host name (letters, digits, '-', '.') or an IPv4 or IPv6 address, as a `Host` header names
    /// it without port: what `server.allowed_hosts` lists.
    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        if text.contains(":") {
            var address = in6_addr()
            return inet_pton(AF_INET6, text, &address) == 1
        }
        return text.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
        }
    }

    static func isHTTPURL(_ text: String) -> Bool {
        (text.hasPrefix("http://") || text.hasPrefix("https://")) && text.split(separator: "/").count >= 2 && !text.contains(" ")
    }

    static func crossChecks(_ c: MonitorConfiguration) -> [ConfigurationProblem] {
        var found: [ConfigurationProblem] = []
        func ordered(_ prefix: String, _ suffix: String, _ w: Double, _ cr: Double, _ e: Double) {
            if !(w < cr && cr < e) {
                found.append(
                    ConfigurationProblem(
                        keyPath: "thresholds.\(prefix)warning\(suffix), \(prefix)critical\(suffix), \(prefix)emergency\(suffix)",
                        value: "\(JSONValue.format(w)), \(JSONValue.format(cr)), \(JSONValue.format(e))",
                        allowed: "warning < critical < emergency"))
            }
        }
        let t = c.thresholds
        ordered("memory_", "_mb", t.memoryWarningMB, t.memoryCriticalMB, t.memoryEmergencyMB)
        ordered("memory_percent_", "", t.memoryPercentWarning, t.memoryPercentCritical, t.memoryPercentEmergency)
        ordered("swap_percent_", "", t.swapPercentWarning, t.swapPercentCritical, t.swapPercentEmergency)
        let g = c.autoResponse.gate
        if !(g.emergencyLimit <= g.criticalLimit && g.criticalLimit <= g.limit) {
            found.append(
                ConfigurationProblem(
                    keyPath: "auto_response.admission_gate.emergency_limit, critical_limit, limit",
                    value: "\(g.emergencyLimit), \(g.criticalLimit), \(g.limit)", allowed: "emergency_limit <= critical_limit <= limit"))
        }
        return found
    }

    private mutating func merge(_ reader: Reader) {
        problems += reader.problems
        unknownKeys += reader.unknownKeys
    }
}

extension ConfigurationLoader {
    /// Reads typed values out of one JSON object, recording problems under its key path.
    struct Reader {
        let object: JSONObject
        let path: String
        var problems: [ConfigurationProblem] = []
        var unknownKeys: [String] = []

        init(object: JSONObject, path: String) {
            self.object = object
            self.path = path
        }

        func keyPath(_ key: String) -> String { key.isEmpty ? path : (path.isEmpty ? key : "\(path).\(key)") }

        mutating func problem(_ key: String, value: String, allowed: String) {
            problems.append(ConfigurationProblem(keyPath: keyPath(key), value: value, allowed: allowed))
        }

        mutating func merge(_ child: Reader) {
            problems += child.problems
            unknownKeys += child.unknownKeys
        }

        /// The keys some accessor asked for: the ones the configuration knows.
        private var consumed: Set<String> = []

        /// Reports every key no accessor asked for as unknown: the accessors are the list of known keys.
        mutating func finish() {
            unknownKeys += object.keys.filter { !consumed.contains($0) }.map { keyPath($0) }
        }

        /// The value of a key, recording that the key is known.
        private mutating func take(_ key: String) -> JSONValue? {
            consumed.insert(key)
            return object[key]
        }

        private func describe(_ value: JSONValue) -> String {
            switch value {
            case .string(let s): "\"\(s)\""
            case .number, .bool, .null: value.serialized
            default: value.kindDescription
            }
        }

        mutating func section(_ key: String) -> Reader? {
            guard let value = take(key) else { return nil }
            guard case .object(let child) = value else {
                problem(key, value: describe(value), allowed: "an object")
                return nil
            }
            return Reader(object: child, path: keyPath(key))
        }

        mutating func number(_ key: String, above: Double? = nil, atLeast: Double? = nil, atMost: Double? = nil) -> Double? {
            guard let value = take(key) else { return nil }
            let range: String = {
                var parts: [String] = []
                if let above { parts.append("> \(JSONValue.format(above))") }
                if let atLeast { parts.append(">= \(JSONValue.format(atLeast))") }
                if let atMost { parts.append("<= \(JSONValue.format(atMost))") }
                return parts.isEmpty ? "a number" : "a number " + parts.joined(separator: " and ")
            }()
            guard case .number(let n) = value, n.isFinite else {
                problem(key, value: describe(value), allowed: range)
                return nil
            }
            let inRange = (above.map { n > $0 } ?? true) && (atLeast.map { n >= $0 } ?? true) && (atMost.map { n <= $0 } ?? true)
            guard inRange else {
                problem(key, value: describe(value), allowed: range)
                return nil
            }
            return n
        }

        mutating func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
            guard let value = take(key) else { return nil }
            let allowed = "a whole number from \(range.lowerBound) to \(range.upperBound)"
            guard case .number(let n) = value, n == n.rounded(), n >= Double(range.lowerBound), n <= Double(range.upperBound) else {
                problem(key, value: describe(value), allowed: allowed)
                return nil
            }
            return Int(n)
        }

        mutating func port(_ key: String) -> Int? {
            guard let value = take(key) else { return nil }
            guard case .number(let n) = value, n == n.rounded(), n >= 1, n <= 65535 else {
                problem(key, value: describe(value), allowed: "a port number from 1 to 65535")
                return nil
            }
            return Int(n)
        }

        mutating func bool(_ key: String) -> Bool? {
            guard let value = take(key) else { return nil }
            guard case .bool(let b) = value else {
                problem(key, value: describe(value), allowed: "true or false")
                return nil
            }
            return b
        }

        mutating func string(_ key: String, nonEmpty: Bool) -> String? {
            guard let value = take(key) else { return nil }
            guard case .string(let s) = value, !(nonEmpty && s.isEmpty) else {
                problem(key, value: describe(value), allowed: nonEmpty ? "a non-empty string" : "a string")
                return nil
            }
            return s
        }

        /// A string whose value is never echoed (a password).
        mutating func secret(_ key: String) -> String? {
            guard let value = take(key) else { return nil }
            guard case .string(let s) = value, !s.isEmpty else {
                problem(key, value: value.kindDescription, allowed: "a non-empty string")
                return nil
            }
            return s
        }

        /// A secret read from the file this key names (Kubernetes and Docker secrets): trailing line
        /// breaks are trimmed, as Alertmanager's `*_file` settings do. Problems name the key and the
        /// path, never the content. `instead` is the plain key it replaces (both set is a problem).
        mutating func secretFile(_ key: String, instead: String?, check: (String) -> Bool, allowed: String) -> String? {
            guard let path = string(key, nonEmpty: true) else { return nil }
            if let instead, object[instead] != nil {
                problem(key, value: "set", allowed: "either \(keyPath(instead)) or \(keyPath(key)), not both")
                return nil
            }
            let text: String
            switch FileSystem.readBytes(path, limit: 64 * 1024) {
            case .success(let bytes):
                guard let decoded = String(validating: bytes, as: UTF8.self) else {
                    problem(key, value: "\"\(path)\"", allowed: allowed + " (it is not UTF-8)")
                    return nil
                }
                text = decoded
            case .failure(let failure):
                problem(key, value: "\"\(path)\"", allowed: "a readable file (\(failure))")
                return nil
            }
            var trimmed = Substring(text)
            while let last = trimmed.last, last == "\n" || last == "\r" || last == "\r\n" { trimmed = trimmed.dropLast() }
            let value = String(trimmed)
            guard check(value) else {
                problem(key, value: "\"\(path)\"", allowed: allowed)
                return nil
            }
            return value
        }

        /// A URL; its value is never echoed, as webhook URLs carry secrets.
        mutating func url(_ key: String) -> String? {
            guard let value = take(key) else { return nil }
            guard case .string(let s) = value, ConfigurationLoader.isHTTPURL(s) else {
                problem(key, value: value.kindDescription, allowed: "an http:// or https:// URL")
                return nil
            }
            return s
        }

        /// Whether the key is present (without consuming it).
        func has(_ key: String) -> Bool { object[key] != nil }

        /// The key's value when it is a boolean; nil (nothing recorded) otherwise.
        mutating func boolIfBool(_ key: String) -> Bool? {
            guard case .bool(let b) = object[key] else { return nil }
            _ = take(key)
            return b
        }

        /// A command line: a non-empty array of strings whose first is an absolute path.
        mutating func argv(_ key: String) -> [String]? {
            guard let value = take(key) else { return nil }
            let allowed = "a non-empty array of strings whose first is an absolute path (run without a shell)"
            guard case .array(let items) = value, !items.isEmpty else {
                problem(key, value: describe(value), allowed: allowed)
                return nil
            }
            var argv: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    problem(key, value: describe(item), allowed: allowed)
                    return nil
                }
                argv.append(s)
            }
            guard argv[0].hasPrefix("/") else {
                problem(key, value: "\"\(argv[0])\"", allowed: allowed)
                return nil
            }
            return argv
        }

        /// A list of URLs; values are never echoed.
        mutating func urlArray(_ key: String) -> [String]? {
            guard let value = take(key) else { return nil }
            guard case .array(let items) = value else {
                problem(key, value: describe(value), allowed: "an array of http:// or https:// URLs")
                return nil
            }
            var urls: [String] = []
            for item in items {
                guard case .string(let s) = item, ConfigurationLoader.isHTTPURL(s) else {
                    problem(key, value: item.kindDescription, allowed: "an array of http:// or https:// URLs")
                    return nil
                }
                urls.append(s)
            }
            return urls
        }

        /// A list of host names or IP addresses, without scheme, port or path.
        mutating func hostArray(_ key: String) -> [String]? {
            strings(key, allowed: "an array of host names or IP addresses, without scheme, port or path (\"monitor.example.com\", \"10.0.0.5\", \"fd00::5\")") {
                ConfigurationLoader.isHostName($0) ? $0.lowercased() : nil
            }
        }

        mutating func stringArray(_ key: String, allowed: [String]) -> [String]? {
            strings(key, allowed: "an array of channel names from: " + allowed.joined(separator: ", ")) { allowed.contains($0) ? $0 : nil }
        }

        /// An array of strings, each kept as `element` returns it (nil refuses the whole key), without repeats.
        private mutating func strings(_ key: String, allowed: String, _ element: (String) -> String?) -> [String]? {
            guard let value = take(key) else { return nil }
            guard case .array(let items) = value else {
                problem(key, value: describe(value), allowed: allowed)
                return nil
            }
            var result: [String] = []
            for item in items {
                guard case .string(let s) = item, let kept = element(s) else {
                    problem(key, value: describe(item), allowed: allowed)
                    return nil
                }
                if !result.contains(kept) { result.append(kept) }
            }
            return result
        }
    }
}
