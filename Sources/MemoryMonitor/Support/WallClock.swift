#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Wall-clock time as seconds since the Unix epoch, and its RFC 3339 form.
package enum WallClock {
    /// Seconds since 1970-01-01T00:00:00Z, with sub-second precision.
    package static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Times a state file or request may carry: 1970-01-01 to 9999-12-31. Anything else is not a
    /// time this monitor wrote.
    package static let plausible: ClosedRange<Double> = 0...253_402_300_799

    /// `2024-01-15T10:30:00Z`: UTC, whole seconds, as the SPEC's examples write it. Times outside
    /// `plausible` are clamped to it.
    package static func rfc3339(_ epochSeconds: Double) -> String {
        let clamped = epochSeconds.isNaN ? 0 : min(max(epochSeconds, plausible.lowerBound), plausible.upperBound)
        let total = Int64(clamped.rounded(.down))
        var days = total / 86_400
        var secs = total % 86_400
        if secs < 0 {
            secs += 86_400
            days -= 1
        }
        // Howard Hinnant's civil-from-days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60))Z"
    }
}
