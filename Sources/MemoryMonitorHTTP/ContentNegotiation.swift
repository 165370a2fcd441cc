import MemoryMonitor
import Synchronization

/// Chooses the exposition format from Accept and the content coding from Accept-Encoding.
package enum ContentNegotiation {
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

    /// What a scrape gets: the body's format and the exact Content-Type to answer with.
    package struct Negotiated: Sendable, Equatable {
        package var format: ExpositionFormat
        package var contentType: String
    }

    /// The escaping schemes Prometheus 3 names (`allow-utf8` is a spelling seen in the wild).
    static let escapingSchemes = ["allow-utf-8", "underscores", "dots", "values"]

    /// Picks among what this exporter can send, by q-value: delimited protobuf
    /// (`application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
    /// encoding=delimited`), OpenMetrics 1.0.0 and 0.0.1, Prometheus text 1.0.0 and 0.0.4. On a
    /// tie the earlier of that list wins. No usable Accept means text 0.0.4.
    ///
    /// Every name this exporter writes is a legacy-valid Prometheus name, so every escaping scheme
    /// leaves the body unchanged: text 1.0.0 is byte for byte the 0.0.4 body, and the escaping a
    /// client asks for is named in the answer (`underscores` when it named none or an unknown one).
    package static func negotiate(accept: String?) -> Negotiated {
        guard let accept else { return Negotiated(format: .prometheusText, contentType: ExpositionFormat.prometheusText.contentType) }
        // A scraper sends the same Accept at every scrape: the answer is remembered (for a few
        // dozen distinct headers), so a scrape served from cache parses nothing.
        if let known = remembered.withLock({ $0[accept] }) { return known }
        let negotiated = parse(accept: accept)
        remembered.withLock { memo in
            if memo.count >= 32 { memo.removeAll(keepingCapacity: true) }
            memo[accept] = negotiated
        }
        return negotiated
    }

    private static let remembered = Mutex<[String: Negotiated]>([:])

    static func parse(accept: String) -> Negotiated {
        let text004 = Negotiated(format: .prometheusText, contentType: ExpositionFormat.prometheusText.contentType)
        var best: (quality: Double, rank: Int, result: Negotiated)?
        func offer(_ quality: Double, _ rank: Int, _ result: Negotiated) {
            guard quality > 0 else { return }
            if let current = best, current.quality > quality || (current.quality == quality && current.rank <= rank) { return }
            best = (quality, rank, result)
        }
        for element in elements(accept[...]) {
            let type = element.token.lowercased()
            let version = element.parameters.first { $0.name.lowercased() == "version" }?.value
            let escapingParameter = element.parameters.first { $0.name.lowercased() == "escaping" }?.value.lowercased()
            let escaping = escapingParameter.map { $0 == "allow-utf8" ? "allow-utf-8" : String($0) }.flatMap { escapingSchemes.contains($0) ? $0 : nil }
            switch type {
            case "application/vnd.google.protobuf":
                // Only the delimited MetricFamily stream; text and compact-text protobuf are not served.
                let proto = element.parameters.first { $0.name.lowercased() == "proto" }?.value
                let encoding = element.parameters.first { $0.name.lowercased() == "encoding" }?.value.lowercased()
                guard proto == "io.prometheus.client.MetricFamily", encoding == "delimited" else { continue }
                var contentType = ExpositionFormat.protobuf.contentType
                if escapingParameter != nil { contentType += "; escaping=\(escaping ?? "underscores")" }
                offer(element.quality, -1, Negotiated(format: .protobuf, contentType: contentType))
            case "application/openmetrics-text":
                let v = version.map(String.init) ?? "1.0.0"
                guard v == "1.0.0" || v == "0.0.1" else { continue }
                // The common answer is a constant: no string is built on the scrape path.
                var contentType = v == "1.0.0" ? ExpositionFormat.openMetrics.contentType : "application/openmetrics-text; version=0.0.1; charset=utf-8"
                if escapingParameter != nil { contentType += "; escaping=\(escaping ?? "underscores")" }
                offer(element.quality, v == "1.0.0" ? 0 : 1, Negotiated(format: .openMetrics, contentType: contentType))
            case "text/plain":
                if version == "1.0.0" {
                    offer(element.quality, 2, Negotiated(format: .prometheusText, contentType: "text/plain; version=1.0.0; charset=utf-8; escaping=\(escaping ?? "underscores")"))
                } else if version == nil || version == "0.0.4" {
                    offer(element.quality, 3, text004)
                }
            case "*/*", "text/*":
                offer(element.quality, 4, text004)
            default: break
            }
        }
        return best?.result ?? text004
    }

    /// The body format `negotiate` picks.
    package static func format(accept: String?) -> ExpositionFormat { negotiate(accept: accept).format }

    /// Whether gzip is acceptable (RFC 9110 §12.5.3): listed with q > 0, or covered by `*`
    /// with q > 0 and not refused by name. `x-gzip` is the same coding.
    package static func acceptsGzip(acceptEncoding: String?) -> Bool {
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
