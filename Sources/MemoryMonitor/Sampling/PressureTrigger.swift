#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A PSI trigger (Documentation/accounting/psi.rst): written to a `memory.pressure` file, the
/// kernel then signals POLLPRI on that descriptor whenever tasks stalled on memory for more than
/// the threshold within the window.
final class PressureTrigger: Sendable {
    /// What one poll saw.
    enum Poll: Equatable {
        case fired, quiet, gone
        /// `wait` returned because its wake descriptor was signalled (shutdown).
        case woken
    }

    /// The file armed.
    let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Arms `spec` ("some 200000 2000000": 200 ms of stall within 2 s) on `path`.
    static func arm(path: String, spec: String) -> Result<PressureTrigger, ReadFailure> {
        let fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadFailure(code: errno)) }
        let written = spec.withCString { write(fd, $0, strlen($0) + 1) }
        guard written >= 0 else {
            let code = errno
            close(fd)
            return .failure(ReadFailure(code: code))
        }
        return .success(PressureTrigger(path: path, fd: fd))
    }

    /// Blocks (on a thread of its own, never the cooperative pool) until the trigger fires, `wake`
    /// becomes readable, or `milliseconds` pass.
    func wait(milliseconds: Int32, wake: Int32) -> Poll {
        var entries = [pollfd(fd: fd, events: Int16(POLLPRI), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        let ready = Glibc.poll(&entries, 2, milliseconds)
        if ready < 0 { return errno == EINTR ? .quiet : .gone }
        if entries[1].revents != 0 { return .woken }
        if entries[0].revents & Int16(POLLERR | POLLNVAL) != 0 { return .gone }
        return entries[0].revents & Int16(POLLPRI) != 0 ? .fired : .quiet
    }

    /// Whether the trigger fired since the last poll; never blocks.
    func poll() -> Poll {
        var entry = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
        let ready = Glibc.poll(&entry, 1, 0)
        if ready < 0 { return errno == EINTR ? .quiet : .gone }
        if entry.revents & Int16(POLLERR | POLLNVAL) != 0 { return .gone }
        return entry.revents & Int16(POLLPRI) != 0 ? .fired : .quiet
    }

    /// Why a trigger spec is malformed, or nil: `some|full STALL_US WINDOW_US`, the window from
    /// 0.5 s to 10 s and the stall within it (kernels may demand more, e.g. a 2 s window).
    static func specProblem(_ spec: String) -> String? {
        let parts = spec.split(separator: " ")
        guard parts.count == 3, parts[0] == "some" || parts[0] == "full", let stall = Int(parts[1]), let window = Int(parts[2]) else {
            return "\"some|full STALL_MICROSECONDS WINDOW_MICROSECONDS\", or \"off\""
        }
        guard (500_000...10_000_000).contains(window), stall > 0, stall < window else {
            return "a window from 500000 to 10000000 µs and a stall above 0 and below the window"
        }
        return nil
    }
}
