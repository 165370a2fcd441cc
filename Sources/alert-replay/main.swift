// Replays a memory trace through the exporter's alert evaluation and routing, with the trace's
// own clock (no sleeps): the exporter's side of scripts/alert-quality.py. Not shipped.
//
//   alert-replay [--warning-mb N] [--critical-mb N] [--emergency-mb N] [--rate-limit S]
//                [--window S] [--prediction-window S] [--flap-threshold N] [--flap-stable S] < trace.csv
//
// Each input line is "seconds,rss_mb". Each output line is one JSON object: a notification that
// went out (`"sent": true`) or one that was held (`"held": reason`), with the alert's fields.
import MemoryMonitor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

let usage = """
    usage: alert-replay [--warning-mb N] [--critical-mb N] [--emergency-mb N] [--rate-limit S]
                        [--window S] [--prediction-window S] [--flap-threshold N] [--flap-stable S] < trace.csv
    Each input line is "seconds,rss_mb"; each output line is one JSON notification, sent or held.

    """

func fail(_ message: String) -> Never {
    let text = message + "\n" + usage
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

var configuration = MonitorConfiguration()
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    if flag == "--help" || flag == "-h" {
        print(usage, terminator: "")
        exit(0)
    }
    guard let text = arguments.popFirst(), let value = Double(text), value.isFinite, value >= 0 else { fail("\(flag) needs a number of at least 0") }
    switch flag {
    case "--warning-mb": configuration.thresholds.memoryWarningMB = value
    case "--critical-mb": configuration.thresholds.memoryCriticalMB = value
    case "--emergency-mb": configuration.thresholds.memoryEmergencyMB = value
    case "--rate-limit": configuration.alerting.rateLimitSeconds = value
    case "--window": configuration.monitoring.leakDetection.monitoringWindow = value
    case "--prediction-window": configuration.experimental.predictionWindow = value
    case "--flap-threshold":
        guard value >= 2, value <= 1000, value == value.rounded() else { fail("--flap-threshold takes a whole number from 2 to 1000") }
        configuration.alerting.flapThreshold = Int(value)
    case "--flap-stable": configuration.alerting.flapStableSeconds = value
    default: fail("unknown flag \(flag)")
    }
}

var evaluator = AlertEvaluator(
    policy: ThresholdPolicy(configuration.thresholds), forChecks: configuration.alerting.forChecks,
    hysteresisPercent: configuration.alerting.hysteresisPercent, instance: "replay", growth: GrowthTracker(configuration: configuration),
    leakSeverity: configuration.monitoring.leakDetection.severity)
var router = AlertRouter(configuration: configuration.alerting)
let channels = [AlertChannelID.log]

func emit(_ action: AlertRouter.Action) {
    var line: JSONObject
    switch action {
    case .deliver(let alert, _):
        guard case .object(let payload) = alert.payload else { return }
        line = payload
        line["t"] = .number(alert.timestamp)
        line["sent"] = true
    case .hold(let alert, let reason):
        guard case .object(let payload) = alert.payload else { return }
        line = payload
        line["t"] = .number(alert.timestamp)
        line["held"] = .string(reason.rawValue)
    case .holdBack(let key):
        line = ["held": "rate_limited", "component": .string(key.component.rawValue), "severity": .string(key.severity.description)]
    }
    print(JSONValue.object(line).serialized)
}

while let input = readLine() {
    let fields = input.split(separator: ",")
    guard fields.count >= 2, let t = Double(fields[0]), let mb = Double(fields[1]) else { continue }
    let sample = Sample(
        timestamp: t, targetDescription: "replay", process: .init(pid: 1, status: ProcessStatus(name: "replay", residentBytes: UInt64(max(0, mb) * 1_048_576))),
        host: MemInfo(totalBytes: 1 << 40, availableBytes: 1 << 39), cgroup: nil, hostPressure: nil, allocator: nil, exporter: .init())
    let outcome = evaluator.evaluate(sample)
    for alert in outcome.alerts { emit(router.receive(alert, channels: channels)) }
    for action in router.tick(now: t, channels: channels) { emit(action) }
}
