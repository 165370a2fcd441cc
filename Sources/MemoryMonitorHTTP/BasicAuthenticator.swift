import CCrypt
import MemoryMonitor
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Basic auth against bcrypt hashes (exporter-toolkit's `basic_auth_users`), verified with
/// libxcrypt's `crypt_r`. bcrypt is slow on purpose (tens to hundreds of milliseconds), so:
///
/// - a verification runs off the event loop, on one thread of its own (a flood of wrong passwords
///   takes at most one core), and at most `maxPending` wait for it; past that a request is
///   answered 503 with `Retry-After` at once;
/// - credentials that verified are cached, so a scraper with good credentials is not queued
///   behind a flood;
/// - an unknown user is checked against a decoy hash of the configured users' cost, so a wrong
///   user takes as long as a wrong password (no listing of user names by timing);
/// - a client address that keeps failing is backed off (`AuthThrottle`): 429 with `Retry-After`
///   before any hash is computed.
package final class BasicAuthenticator: Sendable {
    /// What a request's Authorization header amounts to.
    enum Decision: Equatable {
        case allowed
        case denied
        /// Not cached yet: `verify` must run (slow).
        case verify(user: String, password: String)
        /// The client failed too often: answer 429 with this `Retry-After`.
        case backoff(retryAfterSeconds: Int)
    }

    /// What a verification found.
    enum Verification: Equatable {
        case allowed
        case denied
        /// Too many verifications wait already: answer 503 with `Retry-After: 1`.
        case busy
        /// The client was backed off while this waited: no hash was computed.
        case backoff(retryAfterSeconds: Int)
    }

    let users: [String: String]
    /// A hash to spend the same time on when the user is unknown.
    let decoy: String
    private let verified = Mutex<Set<String>>([])
    static let cacheLimit = 1024
    /// Verifications waiting for or running on the bcrypt thread.
    private let pending = Mutex(0)
    let maxPending: Int
    var pendingCount: Int { pending.withLock { $0 } }
    let throttle: Mutex<AuthThrottle>

    /// The thread bcrypt runs on; it lives as long as the process.
    private static let thread: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    package init(users: [String: String], maxPending: Int = 32, throttle: AuthThrottle = AuthThrottle()) {
        self.users = users
        self.decoy = Self.decoy(cost: Self.commonCost(users.values))
        self.maxPending = max(1, maxPending)
        self.throttle = Mutex(throttle)
    }

    /// A bcrypt hash in modular crypt format.
    package static func isBcrypt(_ hash: String) -> Bool {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, hash.hasPrefix("$2a$") || hash.hasPrefix("$2b$") || hash.hasPrefix("$2y$") else { return false }
        return bytes[6] == UInt8(ascii: "$") && cost(of: hash) != nil
    }

    /// The cost (log2 of the rounds) of a bcrypt hash: `$2b$12$…` → 12.
    static func cost(of hash: String) -> Int? {
        let bytes = Array(hash.utf8)
        guard bytes.count >= 7 else { return nil }
        guard let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost) else { return nil }
        return cost
    }

    /// The cost most of the users' hashes have (the highest among equals; 10 with no users).
    static func commonCost(_ hashes: some Sequence<String>) -> Int {
        var counts: [Int: Int] = [:]
        for hash in hashes { if let c = cost(of: hash) { counts[c, default: 0] += 1 } }
        return counts.max { ($0.value, $0.key) < ($1.value, $1.key) }?.key ?? 10
    }

    /// A hash no password matches, whose verification costs what a real one of `cost` costs:
    /// crypt_r spends the work the setting (`$2b$NN$` and the salt) asks for, then compares.
    static func decoy(cost: Int) -> String {
        let c = min(31, max(4, cost))
        return "$2b$" + (c < 10 ? "0" : "") + String(c) + "$b8nMVWvfc1pWDhp0mTf2I.qgKCRMkY2i624m5KkNVEBz/DXnLpeuC"
    }

    /// Decides from the header, the client's failures and the cache; `.verify` means bcrypt must run.
    func decide(_ headers: HTTPHeaders, client: String, now: Double) -> Decision {
        if let wait = throttle.withLock({ $0.blocked(client, now: now) }) { return .backoff(retryAfterSeconds: wait) }
        guard let header = headers.first(name: "authorization"), header.count > 6, header.prefix(6).lowercased() == "basic " else { return .denied }
        guard let decoded = Base64.decode(String(header.dropFirst(6).trimmingPrefix(" "))), let text = String(validating: decoded, as: UTF8.self),
            let colon = text.firstIndex(of: ":")
        else { return .denied }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        if verified.withLock({ $0.contains(Self.key(user, password)) }) { return .allowed }
        return .verify(user: user, password: password)
    }

    /// Records a wrong or malformed credential from `client`; returns the back-off it starts, if any.
    func recordFailure(client: String, now: Double) -> AuthThrottle.Block? {
        throttle.withLock { $0.fail(client, now: now) }
    }

    /// Forgets `client`'s failures after a success.
    func recordSuccess(client: String) {
        throttle.withLock { $0.succeed(client) }
    }

    /// Verifies on the bcrypt thread, unless `maxPending` verifications wait already; a
    /// verification whose client was backed off while it waited is dropped unhashed.
    func verify(user: String, password: String, client: String) async -> Verification {
        let admitted = pending.withLock { n -> Bool in
            guard n < maxPending else { return false }
            n += 1
            return true
        }
        guard admitted else { return .busy }
        defer { pending.withLock { $0 -= 1 } }
        do {
            return try await Self.thread.runIfActive { [self] in
                if let wait = throttle.withLock({ $0.blocked(client, now: ContinuousClock.now.secondsSinceReference) }) {
                    return .backoff(retryAfterSeconds: wait)
                }
                return verifyNow(user: user, password: password) ? .allowed : .denied
            }
        } catch {
            return .busy
        }
    }

    /// Checks the password against the user's hash (slow: call off the event loop); caches a success.
    func verifyNow(user: String, password: String) -> Bool {
        let hash = users[user]
        let ok = Self.matches(password: password, hash: hash ?? decoy) && hash != nil
        if ok {
            verified.withLock { cache in
                if cache.count >= Self.cacheLimit { cache.removeAll() }
                cache.insert(Self.key(user, password))
            }
        }
        return ok
    }

    private static func key(_ user: String, _ password: String) -> String { user + "\u{0}" + password }

    /// crypt_r(password, hash) == hash.
    static func matches(password: String, hash: String) -> Bool {
        var data = crypt_data()
        guard let result = crypt_r(password, hash, &data) else { return false }
        let computed = String(cString: result)
        guard computed.utf8.count == hash.utf8.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(computed.utf8, hash.utf8) { difference |= a ^ b }
        return difference == 0
    }

    /// The key a client is throttled by: an IPv4 address, the /64 of an IPv6 address (one host
    /// usually holds a whole /64), "unix" for a Unix socket.
    static func clientKey(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        switch address {
        case .v4: return address.ipAddress ?? "unknown"
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 client.
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                return bytes[12..<16].map { String($0) }.joined(separator: ".")
            }
            return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":") + "::/64"
        case .unixDomainSocket: return "unix"
        }
    }
}

/// Backs off a client address that keeps failing basic auth: after `freeFailures` failures, each
/// further failure blocks it for twice as long as the one before (1 s, 2 s, 4 s … up to
/// `maxBlockSeconds`); requests from it in that time are answered 429 without computing a hash.
/// A success, or `forgetSeconds` without a failure, clears the record. At most `capacity`
/// addresses are remembered (the one whose last failure is oldest goes first), so a spoofed
/// flood of addresses cannot grow it.
package struct AuthThrottle: Sendable {
    package var freeFailures = 5
    package var maxBlockSeconds = 60.0
    package var forgetSeconds = 600.0
    package var capacity = 4096

    /// A back-off that started.
    struct Block: Equatable {
        var failures: Int
        var seconds: Double
    }

    struct Entry {
        var failures: Int
        var lastFailure: Double
        var blockedUntil: Double
    }
    private(set) var entries: [String: Entry] = [:]

    package init() {}

    /// Seconds (rounded up, at least 1) until `client` may try again; nil when it is not blocked.
    func blocked(_ client: String, now: Double) -> Int? {
        guard let e = entries[client], e.blockedUntil > now else { return nil }
        return max(1, Int((e.blockedUntil - now).rounded(.up)))
    }

    mutating func fail(_ client: String, now: Double) -> Block? {
        var e = entries[client] ?? Entry(failures: 0, lastFailure: now, blockedUntil: 0)
        if now - e.lastFailure > forgetSeconds { e = Entry(failures: 0, lastFailure: now, blockedUntil: 0) }
        e.failures += 1
        e.lastFailure = now
        var block: Block?
        if e.failures >= freeFailures {
            let seconds = min(maxBlockSeconds, Double(1 << min(30, e.failures - freeFailures)))
            e.blockedUntil = now + seconds
            block = Block(failures: e.failures, seconds: seconds)
        }
        if entries[client] == nil && entries.count >= capacity { evict(now: now) }
        entries[client] = e
        return block
    }

    mutating func succeed(_ client: String) {
        entries.removeValue(forKey: client)
    }

    private mutating func evict(now: Double) {
        entries = entries.filter { now - $0.value.lastFailure <= forgetSeconds }
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastFailure < $1.value.lastFailure }) {
            entries.removeValue(forKey: oldest.key)
        }
    }
}
