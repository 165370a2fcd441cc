/// The formats a scraper can ask for.
public enum ExpositionFormat: Sendable, CaseIterable {
    /// Prometheus text format 0.0.4 (and 1.0.0, which is the same body for legacy-valid names).
    case prometheusText
    /// OpenMetrics 1.0.0 text.
    case openMetrics
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf messages, with native
    /// histograms.
    case protobuf

    /// The Content-Type header value for a body in this format.
    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        case .protobuf: "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        }
    }

    /// The label value this format has in `memory_exposition_renders_total`.
    public var label: String {
        switch self {
        case .prometheusText: "text"
        case .openMetrics: "openmetrics"
        case .protobuf: "protobuf"
        }
    }

    /// A small index (0, 1, 2) for per-format caches.
    public var slot: Int {
        switch self {
        case .prometheusText: 0
        case .openMetrics: 1
        case .protobuf: 2
        }
    }
}
