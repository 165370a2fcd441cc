// A service that embeds memory-monitor: the README's example, compiled against the public API.
// Run it with `swift run --package-path examples/embedding-swift`; SIGTERM stops it.
import Logging
import MemoryMonitor
import MemoryMonitorHTTP
import ServiceLifecycle

/// Stand-ins for the service's own parts.
actor Cache {
    var entries: [String: [UInt8]] = [:]
    func removeAll() { entries.removeAll() }
}
let myCache = Cache()
let prefetchTask = Task { while !Task.isCancelled { try? await Task.sleep(for: .seconds(1)) } }
func handle(_ request: String) async throws -> String { "handled \(request)" }
let request = "GET /"
struct Pager: Sendable { func forward(_ payload: JSONValue) async { print(payload.serialized) } }
let pager = Pager()
let logger = Logger(label: "embedding-example")

// README begin
let monitor = MemoryMonitor(configuration: MonitorConfiguration(), logger: logger)
monitor.addCacheClearer { Task { await myCache.removeAll() } }  // clear_caches (critical by default)
monitor.autoResponse.registerNonEssential(prefetchTask)   // cancelled at emergency
let result = try await monitor.gate.admit { try await handle(request) }  // throttled at critical / emergency
monitor.alerts.addHandler { alert in await pager.forward(alert.payload) }  // every alert
let cache = ExpositionCache(monitor: monitor, maxAge: .seconds(1))
let server = try await HTTPServer.bind(
    host: "0.0.0.0", listeners: HTTPServer.listeners(healthPort: 8080, metricsPort: 9091),
    monitor: monitor, cache: cache, logger: logger)
let group = ServiceGroup(services: [AlertDelivery(dispatcher: monitor.alerts, logger: logger),
                                   CheckLoop(monitor: monitor, logger: logger), server],
                         gracefulShutdownSignals: [.sigterm], logger: logger)
try await group.run()
// README end
print(result)
