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
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product memory-monitor \
 && install -D -s .build/release/memory-monitor /out/memory-monitor

FROM scratch AS prebuilt
COPY prebuilt/memory-monitor /out/memory-monitor

# hadolint ignore=DL3006
FROM ${BINARY_SOURCE} AS binary

FROM debian:bookworm-slim
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
