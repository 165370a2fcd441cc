# syntax=docker/dockerfile:1
# memory-monitor: a release build with the Swift runtime linked in, on a slim Debian runtime.

FROM swift:6.2-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g-dev libcrypt-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product memory-monitor \
 && install -D -s .build/release/memory-monitor /out/memory-monitor

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g libstdc++6 curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin memmon
COPY --from=build /out/memory-monitor /usr/local/bin/memory-monitor
USER 10001:10001
EXPOSE 8080 9091
# /health answers 503 when the check loop has stalled, so curl -f fails and Docker marks the container unhealthy.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/memory-monitor"]
