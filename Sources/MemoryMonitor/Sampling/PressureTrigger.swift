#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A PSI trigger (Documentation/accounting/psi.rst): written to a `memory.pressure` file, the
/// kernel then signals POLLPRI on that descriptor whenever tasks stalled on memory for more than
/// the threshold within the window.
final class PressureTrigger: Sendable {
    /// The file armed.
    let path: String
    /// The armed descriptor: POLLPRI when the trigger fires, POLLERR when the file is gone.
    let fd: Int32

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
