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
# Serially: several tests block their thread while real peers run, and the machine has 2 cores.
swift test --disable-xctest --no-parallel
# The image, the compose stack and the Python example on a real Docker engine, around the binary
# the image's build stage makes: release, with the Swift runtime linked in.
swift build -c release --static-swift-stdlib --product memory-monitor
python3 scripts/container-test.py --binary .build/release/memory-monitor
