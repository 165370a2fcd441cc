# syntax=docker/dockerfile:1
# memory-monitor: a release build with the Swift runtime linked in, on a slim Debian runtime.

FROM swift:6.2-bookworm AS build
# DL3008 (pin apt versions) is ignored on purpose: bookworm's archive drops superseded package
# versions, so a pinned zlib1g-dev or libcrypt-dev breaks the build at the next security update.
# The base images are pinned by tag instead.
# hadolint ignore=DL3008
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
# DL3008: as above, security updates of zlib1g and libstdc++6 must not break the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin memmon
COPY --from=build /out/memory-monitor /usr/local/bin/memory-monitor
USER 10001:10001
EXPOSE 8080 9091
# Exec form, no shell or curl: the binary GETs /health on the health port (MEMORY_HEALTH_PORT,
# default 8080), so the check follows a port moved through the environment. /health
# answers 503 when the check loop has stalled, and the probe then exits 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/memory-monitor", "--health-probe"]
ENTRYPOINT ["/usr/local/bin/memory-monitor"]
