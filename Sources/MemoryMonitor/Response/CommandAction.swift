#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Subprocess
import SystemPackage

/// Runs a `command` action: an argv without a shell, a fixed environment, a timeout after which
/// it is terminated (SIGTERM, then SIGKILL a second later).
enum CommandAction {
    static func run(_ argv: [String], environment: [String: String], timeout: Double) async -> (ActionResult, String) {
        let options = {
            var options = PlatformOptions()
            options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(1))]
            return options
        }()
        let env = Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) })
        let executable = argv[0]
        let arguments = Array(argv.dropFirst())
        do {
            let status = try await withTimeout(seconds: timeout) {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), environment: .custom(env), platformOptions: options,
                    output: .discarded, error: .discarded)
                return result.terminationStatus
            }
            switch status {
            case .exited(0): return (.ok, "\(executable) exited 0")
            case .exited(let code): return (.failed, "\(executable) exited \(code)")
            case .signaled(let signal): return (.failed, "\(executable) was killed by signal \(signal)")
            }
        } catch is TimeoutError {
            return (.failed, "\(executable) ran past \(JSONValue.format(timeout)) s and was terminated")
        } catch {
            return (.failed, "\(executable) could not run: \(error)")
        }
    }
}
