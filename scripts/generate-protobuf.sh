#!/usr/bin/env bash
# Regenerates Sources/MemoryMonitor/Metrics/Protobuf/metrics.pb.swift from metrics.proto.
# Run by hand after editing the proto; the build never runs protoc or its plugin.
#
# Needs: protoc (PyPI grpcio-tools, `.venv/bin/python3 -m grpc_tools.protoc`) and
# protoc-gen-swift from apple/swift-protobuf at the version Package.swift names:
#   git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   git -C /tmp/swift-protobuf checkout 1.39.0
#   (cd /tmp/swift-protobuf && swift build --product protoc-gen-swift)
# The Python test decoder (Tests/IntegrationTests, metrics_pb2) is generated from the same proto
# at test time, so both sides read one schema.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${PROTOC_GEN_SWIFT:-/tmp/swift-protobuf/.build/debug/protoc-gen-swift}
dir=Sources/MemoryMonitor/Metrics/Protobuf
.venv/bin/python3 -m grpc_tools.protoc \
  --plugin=protoc-gen-swift="$plugin" \
  --proto_path="$dir" \
  --swift_opt=Visibility=Internal \
  --swift_opt=FileNaming=DropPath \
  --swift_out="$dir" \
  "$dir/metrics.proto"
echo "generated $dir/metrics.pb.swift"
