#!/bin/sh
# Rewrites the generated tables of docs/configuration.md and docs/auto-response.md from the key
# declarations (Sources/MemoryMonitor/Configuration/ConfigurationSchema.swift). The test suite
# fails when they drift.
set -e
cd "$(dirname "$0")/.."
swift build --build-tests
MEMORY_MONITOR_UPDATE_DOCS=1 swift test --skip-build --disable-xctest --filter "ConfigurationSchemaTests/theDocsTablesAreGenerated"
git --no-pager diff --stat -- docs/configuration.md docs/auto-response.md
