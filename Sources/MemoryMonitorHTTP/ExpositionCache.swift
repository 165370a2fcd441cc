import MemoryMonitor
import NIOCore
import Synchronization

/// Render once, compress once, serve many: the /metrics body in each format, plain and gzip,
/// built at most once per published snapshot and shared by every scrape until the next one.
public final class ExpositionCache: Sendable {
    /// Bodies smaller than this are not worth compressing.
    public static let minimumGzipBytes = 1024

    /// A body ready to send.
    public struct Body: Sendable {
        public var bytes: ByteBuffer
        public var format: ExpositionFormat
        public var gzipped: Bool
        /// The snapshot the body was rendered from.
        public var generation: UInt64
    }

    private struct Entry {
        var generation: UInt64 = .max
        var plain: [ByteBuffer?] = [nil, nil, nil]
        var gzip: [ByteBuffer?] = [nil, nil, nil]
        var builds = 0
    }

    private let monitor: MemoryMonitor
    private let maxAge: Duration
    private let entry = Mutex(Entry())

    /// A cache over `monitor`; a scrape that finds the snapshot older than `maxAge` asks the
    /// monitor for a check first (joining one in progress).
    public init(monitor: MemoryMonitor, maxAge: Duration) {
        self.monitor = monitor
        self.maxAge = maxAge
    }

    /// Bodies rendered or compressed so far (each costs one render or one gzip).
    public var builds: Int { entry.withLock { $0.builds } }

    /// The body for a scrape, after a check if the snapshot is stale.
    public func body(format: ExpositionFormat, acceptsGzip: Bool) async -> Body {
        let snapshot = await monitor.snapshot(maxAge: maxAge)
        return body(generation: snapshot.generation, format: format, acceptsGzip: acceptsGzip)
    }

    /// The body when the published snapshot is fresh enough, else nil (the caller awaits `body`).
    public func freshBody(format: ExpositionFormat, acceptsGzip: Bool) -> Body? {
        guard let generation = monitor.freshGeneration(maxAge: maxAge) else { return nil }
        return body(generation: generation, format: format, acceptsGzip: acceptsGzip)
    }

    private func body(generation: UInt64, format: ExpositionFormat, acceptsGzip: Bool) -> Body {
        let slot = format.slot
        return entry.withLock { e in
            if e.generation != generation { e = Entry(generation: generation, builds: e.builds) }
            let plain: ByteBuffer
            if let cached = e.plain[slot] {
                plain = cached
            } else {
                // Rendered from the snapshot published now, and cached under its own generation:
                // a check that completed since the caller looked makes this body the newer one.
                guard let snapshot = monitor.snapshot else { preconditionFailure("a generation without a snapshot") }
                if snapshot.generation != e.generation { e = Entry(generation: snapshot.generation, builds: e.builds) }
                let bytes = ExpositionRenderer.render(monitor.metricFamilies(for: snapshot), format: format)
                plain = ByteBuffer(bytes: bytes)
                e.plain[slot] = plain
                e.builds += 1
                monitor.metrics.expositionRenders.increment(labels: [format.label])
            }
            guard acceptsGzip, plain.readableBytes >= Self.minimumGzipBytes else {
                return Body(bytes: plain, format: format, gzipped: false, generation: e.generation)
            }
            if let cached = e.gzip[slot] { return Body(bytes: cached, format: format, gzipped: true, generation: e.generation) }
            let compressed = ByteBuffer(bytes: Gzip.compress(Array(plain.readableBytesView)))
            e.gzip[slot] = compressed
            e.builds += 1
            return Body(bytes: compressed, format: format, gzipped: true, generation: e.generation)
        }
    }
}
