import Synchronization

/// A flag threads share: one sets it, others poll it (a load loop's stop signal).
public final class Flag: Sendable {
    private let value = Mutex(false)
    public init() {}
    public var isSet: Bool { value.withLock { $0 } }
    public func set() { value.withLock { $0 = true } }
}
