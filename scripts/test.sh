#!/usr/bin/env bash
# The full test suite: installs the real tools the tests use, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
# The Python agent's own suite (clients/python): real sockets, threads, event loops, uids.
.venv/bin/python3 -m pytest -q clients/python/tests
swift build
# The README's embedding example, as a package of its own: it compiles only against the public API.
# It shares this build's scratch path, so the dependencies it has in common are not compiled again
# (12 s instead of 3.5 min); access control still sees it as another package (a `package`
# declaration used there fails to compile).
swift build --package-path examples/embedding-swift --scratch-path .build
# The suite in two processes. Tests that change or measure process-wide state (the descriptor
# limit, ns_last_pid, the process's own descriptors, malloc statistics, the loop thread's CPU
# share) or that measure under load (500 open connections, a login flood, generations served,
# quiescing while clients connect, memory a real service gives back, a profile's top allocation
# site, an OOM kill's timing, a memory stall's trigger, evictions counted while clients connect,
# the TLS suite's openssl children, one of which did not finish in 30 s while other tests spawned
# and loaded both cores) run alone, serially; everything else runs in parallel, each test
# body on threads of its own (`.offCooperativePool`). About 5 minutes in all instead of about 7
# serially here.
serial="UnprivilegedTests|TargetSafetyTests|samplerUnderEMFILE|ProcFileTests|CheckLoopTests|PressureWatchTests|AlertingIntegrationTests|SnapshotConsistencyTests|AllocatorStatisticsTests|aScrapeSucceedsBeside500SlowClients|aLoginFloodIsBackedOffAndAGoodScraperIsServed|QuiescingTests|LeakSitesIntegrationTests|oomKilledTargetInARealCgroup|PythonAgentIntegrationTests|AutoResponseIntegrationTests|theBundledTrendRuleFollowsTheExportersTrendAlert|memoryStallRunsACheckAtOnce|aFullServerEvictsTheLongestWaitingConnection|WebConfigurationIntegrationTests"
swift build --build-tests
swift test --skip-build --disable-xctest --skip "$serial"
swift test --skip-build --disable-xctest --no-parallel --filter "$serial"
# The image, the compose stack and the Python example on a real Docker engine, around the binary
# the image's build stage makes: release, with the Swift runtime linked in.
swift build -c release --static-swift-stdlib --product memory-monitor
python3 scripts/container-test.py --binary .build/release/memory-monitor
