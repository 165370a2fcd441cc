/// One thing wrong in the configuration: where, what was given, what is allowed.
public struct ConfigurationProblem: Sendable, Equatable, CustomStringConvertible {
    /// The key path (`monitoring.check_interval`), environment variable or flag.
    public var keyPath: String
    /// The value as given, or a description of it.
    public var value: String
    /// What would have been accepted.
    public var allowed: String

    public init(keyPath: String, value: String, allowed: String) {
        self.keyPath = keyPath
        self.value = value
        self.allowed = allowed
    }

    public var description: String { "\(keyPath): \(value) is not allowed; expected \(allowed)" }
}

/// The configuration cannot be used: every problem found, not just the first.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong; never empty.
    public var problems: [ConfigurationProblem]
    /// A file-level failure (unreadable file, invalid JSON) instead of key problems.
    public var fileError: String?

    public init(problems: [ConfigurationProblem] = [], fileError: String? = nil) {
        self.problems = problems
        self.fileError = fileError
    }

    public var description: String {
        if let fileError { return fileError }
        return "invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
