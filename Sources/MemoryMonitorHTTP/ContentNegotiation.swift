import MemoryMonitor

/// Chooses the exposition format from Accept and the content coding from Accept-Encoding.
public enum ContentNegotiation {
    /// One element of an Accept-style header: the token (media range or coding) and its parameters.
    struct Element {
        var token: Substring
        var parameters: [(name: Substring, value: Substring)]
        var quality: Double
    }

    /// Splits a header value into elements; q defaults to 1, a malformed q counts as 0.
    static func elements(_ header: Substring) -> [Element] {
        header.split(separator: ",").compactMap { part in
            let pieces = part.split(separator: ";").map { $0.trimmingSpaces }
            guard let token = pieces.first, !token.isEmpty else { return nil }
            var quality = 1.0
            var parameters: [(Substring, Substring)] = []
            for piece in pieces.dropFirst() {
                let kv = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
                guard kv.count == 2 else { continue }
                let name = kv[0]
                if name.lowercased() == "q" {
                    quality = Double(kv[1]).map { min(max($0, 0), 1) } ?? 0
                } else {
                    parameters.append((name, kv[1].trimmingCharacters("\"")))
                }
            }
            return Element(token: token, parameters: parameters, quality: quality)
        }
    }

    /// OpenMetrics when the client asks for it at least as strongly as for anything else we
    /// could send; Prometheus text 0.0.4 otherwise, including when there is no Accept header.
    public static func format(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText }
        var openMetrics = 0.0
        var text = 0.0
        for element in elements(accept[...]) {
            let type = element.token.lowercased()
            let version = element.parameters.first { $0.name.lowercased() == "version" }?.value
            switch type {
            case "application/openmetrics-text":
                if version == nil || version == "1.0.0" || version == "0.0.1" { openMetrics = max(openMetrics, element.quality) }
            case "text/plain":
                if version == nil || version == "0.0.4" { text = max(text, element.quality) }
            case "*/*", "text/*":
                text = max(text, element.quality)
            default: break
            }
        }
        return openMetrics > 0 && openMetrics >= text ? .openMetrics : .prometheusText
    }

    /// Whether gzip is acceptable (RFC 9110 §12.5.3): listed with q > 0, or covered by `*`
    /// with q > 0 and not refused by name. `x-gzip` is the same coding.
    public static func acceptsGzip(acceptEncoding: String?) -> Bool {
        guard let acceptEncoding else { return false }
        var gzip: Double?
        var wildcard: Double?
        for element in elements(acceptEncoding[...]) {
            switch element.token.lowercased() {
            case "gzip", "x-gzip": gzip = max(gzip ?? 0, element.quality)
            case "*": wildcard = element.quality
            default: break
            }
        }
        if let gzip { return gzip > 0 }
        return (wildcard ?? 0) > 0
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }

    func trimmingCharacters(_ c: Character) -> Substring {
        var s = self
        if s.count >= 2, s.first == c, s.last == c {
            s.removeFirst()
            s.removeLast()
        }
        return s
    }
}
