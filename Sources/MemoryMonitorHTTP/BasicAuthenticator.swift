import CCrypt
import MemoryMonitor
import NIOHTTP1
import Synchronization

/// Basic auth against bcrypt hashes (exporter-toolkit's `basic_auth_users`), verified with
/// libxcrypt's `crypt_r`. bcrypt is slow on purpose (tens of milliseconds), so a verification runs
/// off the event loop, and credentials that verified are cached.
public final class BasicAuthenticator: Sendable {
    /// What a request's Authorization header amounts to.
    enum Decision: Equatable {
        case allowed
        case denied
        /// Not cached yet: `verify` must run (slow).
        case verify(user: String, password: String)
    }

    let users: [String: String]
    private let verified = Mutex<Set<String>>([])
    static let cacheLimit = 1024
    /// A hash to spend the same time on when the user is unknown (no user enumeration by timing).
    static let decoy = "$2b$10$b8nMVWvfc1pWDhp0mTf2I.qgKCRMkY2i624m5KkNVEBz/DXnLpeuC"

    public init(users: [String: String]) {
        self.users = users
    }

    /// A bcrypt hash in modular crypt format.
    public static func isBcrypt(_ hash: String) -> Bool {
        let bytes = Array(hash.utf8)
        guard bytes.count == 60, hash.hasPrefix("$2a$") || hash.hasPrefix("$2b$") || hash.hasPrefix("$2y$") else { return false }
        return bytes[6] == UInt8(ascii: "$")
    }

    func decide(_ headers: HTTPHeaders) -> Decision {
        guard let header = headers.first(name: "authorization"), header.count > 6, header.prefix(6).lowercased() == "basic " else { return .denied }
        guard let decoded = Base64.decode(String(header.dropFirst(6).trimmingPrefix(" "))), let text = String(validating: decoded, as: UTF8.self),
            let colon = text.firstIndex(of: ":")
        else { return .denied }
        let user = String(text[..<colon])
        let password = String(text[text.index(after: colon)...])
        if verified.withLock({ $0.contains(Self.key(user, password)) }) { return .allowed }
        return .verify(user: user, password: password)
    }

    /// Checks the password against the user's hash (slow: call off the event loop); caches a success.
    func verify(user: String, password: String) -> Bool {
        let hash = users[user]
        let ok = Self.matches(password: password, hash: hash ?? Self.decoy) && hash != nil
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
}
