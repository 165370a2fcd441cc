# memory-monitor: a release build with the Swift runtime linked in, on a slim Debian runtime.
# (No "# syntax=" line: BuildKit would fetch that frontend image from Docker Hub, and an offline
# or mirrored build would fail.)
#
# BINARY_SOURCE=build (the default) compiles the binary in the first stage. The test suite builds
# the same runtime stage around the binary it built and tested: BINARY_SOURCE=prebuilt takes it
# from prebuilt/memory-monitor in the build context (scripts/container-test.py).
ARG BINARY_SOURCE=build

FROM swift:6.2-bookworm AS build
# DL3008 (pin apt versions) is ignored on purpose: bookworm's archive drops superseded package
# versions, so a pinned zlib1g-dev or libcrypt-dev breaks the build at the next security update.
# The base images are pinned by tag instead.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g-dev libcrypt-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Exactly the dependency versions CI tested: Package.resolved is written from the committed list,
# and a build that would need any other version fails (--force-resolved-versions).
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts/tested-dependencies.txt scripts/pin-dependencies.sh ./scripts/
RUN sh scripts/pin-dependencies.sh write-resolved \
 && swift package resolve --force-resolved-versions
# REVISION, the git commit (`--build-arg REVISION=$(git rev-parse HEAD)`): the context has no
# .git, so the RevisionStamp build plugin takes it from the environment.
ARG REVISION=unknown
RUN MEMORY_MONITOR_REVISION="${REVISION}" swift build -c release --force-resolved-versions --static-swift-stdlib --product memory-monitor \
 && install -D -s .build/release/memory-monitor /out/memory-monitor

FROM scratch AS prebuilt
COPY prebuilt/memory-monitor /out/memory-monitor

# DL3006 (tag the image) does not apply: BINARY_SOURCE names a stage of this file, not an image.
# hadolint ignore=DL3006
FROM ${BINARY_SOURCE} AS binary

FROM debian:bookworm-slim
ARG REVISION=unknown
# VERSION is MonitorMetrics.version (a test keeps them equal); SOURCE, where the code is published.
ARG VERSION=0.1.0
ARG SOURCE=""
LABEL org.opencontainers.image.title="memory-monitor" \
      org.opencontainers.image.description="Prometheus exporter and health API for process, container and host memory" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}"
# DL3008: as above, security updates of zlib1g, libstdc++6 and tini must not break the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends zlib1g libstdc++6 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin memmon
COPY --from=binary /out/memory-monitor /usr/local/bin/memory-monitor
USER 10001:10001
EXPOSE 8080 9091
# Exec form, no shell or curl: the probe finds the monitor running beside it and GETs /health on
# the port that monitor took from its flags, its --config file and its environment. /health
# answers 503 when the check loop has stalled, and the probe then exits 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/memory-monitor", "--health-probe"]
# tini is PID 1: it forwards SIGTERM to the monitor and reaps the orphans a command action's
# children leave behind (the monitor, as PID 1, would inherit them as zombies).
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/memory-monitor"]
