import Testing
@testable import MemoryMonitor
import TestSupport

@Suite("Allocator statistics and arenas", .offCooperativePool)
struct AllocatorStatisticsTests {
    /// The environment's own choice of arena count stands: MALLOC_ARENA_MAX, or the glibc tunable.
    @Test func theEnvironmentsArenaChoiceStands() {
        #expect(AllocatorStatistics.capArenas(environment: ["MALLOC_ARENA_MAX": "4"]) == nil)
        #expect(AllocatorStatistics.capArenas(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.malloc.tcache_count=0"]) == nil)
        // Other tunables leave the cap to the exporter.
        #expect(AllocatorStatistics.capArenas(environment: ["GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"]) == AllocatorStatistics.arenaCap)
        #expect(AllocatorStatistics.capArenas(environment: [:]) == 2)
    }

    /// The figures are this process's: a 64 MiB block (mmapped, never touched) in use shows in `inUseBytes`.
    @Test func inUseBytesFollowAnAllocation() {
        let before = AllocatorStatistics.current().inUseBytes
        let block = UnsafeMutableRawPointer.allocate(byteCount: 64 << 20, alignment: 16)
        let during = AllocatorStatistics.current().inUseBytes
        block.deallocate()
        #expect(during >= before + (64 << 20))
    }
}
