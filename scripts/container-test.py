#!/usr/bin/env python3
"""The image, the compose stack and the Python example on a real Docker engine (issue 29).

Usage: scripts/container-test.py [--binary PATH] [--keep-images]

Runs in the README's test command (scripts/test.sh). Needs root, Debian's docker.io and
debootstrap (scripts/install-test-deps.sh installs them), and a release binary built with
--static-swift-stdlib, as the image's build stage makes it (scripts/test.sh builds it).

1. Setup: starts dockerd when none answers (and stops it, by pid, at the end); makes the base
   image local/debian:bookworm-slim with debootstrap once (tagged debian:bookworm-slim, the
   Dockerfile's runtime base), and local Prometheus, Alertmanager and Python images from it with
   Debian's packages. Nothing is pulled: every image is made here.
2. The exporter image: the repository's Dockerfile, unchanged, with BINARY_SOURCE=prebuilt, so
   its runtime stage, the stage that ships, is built around the binary the tests built.
3. Checks: the image (uid 10001, read-only root, tini as PID 1 and no zombies, the 256 MiB limit
   reported, healthy through its HEALTHCHECK also with the port from a configuration file,
   docker stop exits 0 within 10 s); the compose stack (docker-compose.yml with a test override
   that swaps in the local images, leaves Grafana out and speeds up the rules' timings: the
   exporter target up, every rule healthy, the exporter's alert and the rule's alert one alert in
   Alertmanager); examples/python-service (the sidecar finds the app, the limit is the app's,
   the clean-up reclaims memory and says so).
4. Every container, network and volume it made is removed by id; traffic stays on loopback and
   Docker's bridge. Prints one line per check and the time each part took; exits 1 if any failed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Debian's client: it drives the engine's built-in BuildKit without the buildx plugin.
DOCKER = "/usr/bin/docker"
COMPOSE = os.path.join(ROOT, ".venv", "bin", "docker-compose")

results = []
made = {"containers": set(), "networks": set(), "volumes": set()}


def log(text):
    print(text, flush=True)


def check(name, ok, detail=""):
    results.append((name, bool(ok)))
    if not ok:
        log(f"FAIL {name}: {detail}")
    else:
        log(f"PASS {name}" + (f" ({detail})" if detail and len(detail) <= 300 else ""))
    return bool(ok)


def run(args, timeout=900, env=None, input=None, check_status=True):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, input=input)
    if check_status and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}{r.stdout[-1000:]}")
    return r


def docker(*args, **kw):
    return run([DOCKER, *args], **kw)


def inspect(kind, name, template):
    r = docker(kind, "inspect", "-f", template, name, check_status=False)
    return r.stdout.strip() if r.returncode == 0 else None


def http(url, timeout=5, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def wait(condition, seconds, step=0.5):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# ---- setup ----------------------------------------------------------------------------------

def ensure_engine():
    """Returns the pid of a dockerd this script started, or None when one was running."""
    if docker("info", check_status=False, timeout=30).returncode == 0:
        return None
    logfile = open(os.path.join(tempfile.gettempdir(), "mm-dockerd.log"), "ab")
    daemon = subprocess.Popen(["dockerd"], stdout=logfile, stderr=logfile, start_new_session=True)
    if not wait(lambda: docker("info", check_status=False, timeout=10).returncode == 0, 60):
        daemon.terminate()
        raise RuntimeError("dockerd did not answer within 60 s")
    return daemon


def image_exists(name):
    return docker("image", "inspect", name, check_status=False).returncode == 0


def ensure_base_images():
    if not image_exists("local/debian:bookworm-slim"):
        rootfs = tempfile.mkdtemp(prefix="mm-rootfs-")
        try:
            log("debootstrap --variant=minbase bookworm (once; about 30 s)")
            run(["debootstrap", "--variant=minbase", "bookworm", rootfs, "http://deb.debian.org/debian"], timeout=900)
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run([DOCKER, "import", "-", "local/debian:bookworm-slim"], stdin=tar.stdout, check=True, capture_output=True)
            tar.wait()
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
    # The Dockerfile's runtime base; a pulled image of that name is left alone.
    if not image_exists("debian:bookworm-slim"):
        docker("tag", "local/debian:bookworm-slim", "debian:bookworm-slim")
    for name, package, entrypoint in [
        ("local/prometheus:test", "prometheus", '["/usr/bin/prometheus"]'),
        ("local/alertmanager:test", "prometheus-alertmanager", '["/usr/bin/prometheus-alertmanager"]'),
        ("local/python:test", "python3", '["python3"]'),
    ]:
        if image_exists(name):
            continue
        context = tempfile.mkdtemp(prefix="mm-image-")
        try:
            with open(os.path.join(context, "Dockerfile"), "w") as f:
                f.write("FROM local/debian:bookworm-slim\n"
                        f"RUN apt-get update && apt-get install -y --no-install-recommends {package} && rm -rf /var/lib/apt/lists/*\n"
                        f"ENTRYPOINT {entrypoint}\n")
            log(f"building {name} (Debian's {package})")
            docker("build", "-q", "-t", name, context, env=dict(os.environ, DOCKER_BUILDKIT="1"))
        finally:
            shutil.rmtree(context, ignore_errors=True)


def build_exporter_image(binary):
    context = tempfile.mkdtemp(prefix="mm-context-")
    try:
        shutil.copyfile(os.path.join(ROOT, "Dockerfile"), os.path.join(context, "Dockerfile"))
        os.makedirs(os.path.join(context, "prebuilt"))
        # Stripped, as the build stage's `install -s` does.
        run(["strip", "-o", os.path.join(context, "prebuilt", "memory-monitor"), binary])
        version = run([binary, "--version"]).stdout.strip()
        revision = re.search(r"revision ([^,)]+)", version).group(1)
        docker("build", "-q", "--build-arg", "BINARY_SOURCE=prebuilt", "--build-arg", f"REVISION={revision}", "-t", "memory-monitor:test", context,
               env=dict(os.environ, DOCKER_BUILDKIT="1"))
        labels = json.loads(inspect("image", "memory-monitor:test", "{{json .Config.Labels}}") or "{}")
        head = run(["git", "-C", ROOT, "rev-parse", "HEAD"], check_status=False).stdout.strip()
        check("the binary is stamped with the git revision it was built from, and the image's labels say so",
              revision.split("-dirty")[0] == head and labels.get("org.opencontainers.image.revision") == revision
              and labels.get("org.opencontainers.image.version") == version.split(" ")[0],
              f"binary {revision}, HEAD {head}, labels {labels}")
        # The image carries what the shipped Dockerfile's runtime stage declares.
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            runtime = f.read().rsplit("\nFROM ", 1)[1]
        declared = {
            "User": re.search(r"^USER (\S+)", runtime, re.M).group(1),
            "Entrypoint": json.loads(re.search(r"^ENTRYPOINT (\[.*\])", runtime, re.M).group(1)),
            "Healthcheck": ["CMD"] + json.loads(re.search(r"^\s+CMD (\[.*\])", runtime, re.M).group(1)),
            "ExposedPorts": sorted(f"{p}/tcp" for p in re.search(r"^EXPOSE (.*)$", runtime, re.M).group(1).split()),
        }
        config = json.loads(inspect("image", "memory-monitor:test", "{{json .Config}}") or "{}")
        built = {"User": config.get("User"), "Entrypoint": config.get("Entrypoint"),
                 "Healthcheck": (config.get("Healthcheck") or {}).get("Test"), "ExposedPorts": sorted((config.get("ExposedPorts") or {}).keys())}
        check("the image has the shipped runtime stage's user, entrypoint, health check and ports", built == declared, f"built {built}, declared {declared}")
    finally:
        shutil.rmtree(context, ignore_errors=True)


# ---- the image ------------------------------------------------------------------------------

def start(options, command=()):
    """Runs memory-monitor:test detached with docker run `options` and the monitor's `command`."""
    cid = docker("run", "-d", "--name", f"mmtest-{uuid.uuid4().hex[:8]}", *options, "memory-monitor:test", *command).stdout.strip()
    made["containers"].add(cid)
    return cid


def published(cid, port):
    out = docker("port", cid, f"{port}/tcp").stdout.strip().splitlines()
    for line in out:
        if line.startswith("127.0.0.1:"):
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(f"{cid[:12]}: port {port} not published: {out}")


def health_status(cid):
    return inspect("container", cid, "{{.State.Health.Status}}")


def processes(cid):
    """(pid, comm, state, uid) of every process in the container, read from its /proc."""
    script = 'for d in /proc/[0-9]*; do [ -r "$d/stat" ] && echo "$(cat $d/stat 2>/dev/null) UID=$(sed -n "s/^Uid:\\t\\([0-9]*\\).*/\\1/p" $d/status 2>/dev/null)"; done'
    out = docker("exec", cid, "sh", "-c", script, check_status=False).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"(\d+) \((.*)\) (\S) .* UID=(\d*)$", line)
        if m:
            rows.append((int(m.group(1)), m.group(2), m.group(3), m.group(4)))
    return rows


def image_checks():
    started = time.monotonic()
    common = ["--read-only", "--memory", "256m", "-p", "127.0.0.1::8080", "-p", "127.0.0.1::9091",
              "--health-interval", "1s", "--health-start-period", "1s", "--health-timeout", "5s"]
    cid = start(common)
    t0 = time.monotonic()
    healthy = wait(lambda: health_status(cid) == "healthy", 30)
    check("image: healthy through its HEALTHCHECK", healthy, f"after {time.monotonic() - t0:.1f} s" if healthy else health_log(cid))
    check("image: runs as 10001:10001", inspect("container", cid, "{{.Config.User}}") == "10001:10001")
    check("image: read-only root", inspect("container", cid, "{{.HostConfig.ReadonlyRootfs}}") == "true")
    rows = processes(cid)
    check("image: tini is PID 1, the monitor its child, both uid 10001",
          any(p == 1 and comm == "tini" and uid == "10001" for p, comm, _, uid in rows)
          and any(comm == "memory-monitor" and uid == "10001" for _, comm, _, uid in rows), f"{rows}")
    port = published(cid, 8080)
    status, body = http(f"http://127.0.0.1:{port}/health/memory")
    memory = json.loads(body) if status == 200 else {}
    check("image: the container's 256 MiB limit is the one reported",
          memory.get("limit_source") == "cgroup" and memory.get("limit_mb") == 256, f"{status} {body[:300]}")
    status, text = http(f"http://127.0.0.1:{published(cid, 9091)}/metrics")
    build_info = re.search(r'^memory_monitor_build_info\{[^}]*revision="([^"]+)"', text, re.M)
    check("image: memory_monitor_build_info carries the revision", build_info and build_info.group(1) != "unknown",
          build_info.group(0) if build_info else text[:500])
    check("image: memory_effective_limit_bytes{source=\"cgroup\"} 268435456",
          'memory_effective_limit_bytes{source="cgroup"} 268435456' in text,
          "" if 'memory_effective_limit_bytes{source="cgroup"} 268435456' in text else text[:2000])

    # Orphans: a process whose parent exits is reparented to PID 1, which must reap it.
    zombies_before = [r for r in processes(cid) if r[2] == "Z"]
    docker("exec", cid, "sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.2 &) ; done")
    time.sleep(1.5)
    zombies = [r for r in processes(cid) if r[2] == "Z"]
    check("image: orphans are reaped (no zombies)", not zombies and not zombies_before, f"{zombies}")

    t0 = time.monotonic()
    docker("stop", "-t", "10", cid)
    stop_seconds = time.monotonic() - t0
    code = inspect("container", cid, "{{.State.ExitCode}}")
    check("image: docker stop exits 0 within 10 s", code == "0" and stop_seconds < 10, f"exit {code} in {stop_seconds:.2f} s")

    # The same image with the monitor as PID 1 (no tini) keeps the orphans as zombies: the check
    # above can fail.
    bare = start(["--read-only", "--entrypoint", "/usr/local/bin/memory-monitor"])
    wait(lambda: any(comm == "memory-monitor" for _, comm, _, _ in processes(bare)), 10)
    docker("exec", bare, "sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.2 &) ; done")
    time.sleep(1.5)
    check("image: without tini the same orphans stay zombies (the check above can fail)",
          len([r for r in processes(bare) if r[2] == "Z"]) == 5, f"{processes(bare)}")
    docker("rm", "-f", bare)

    # The port from a configuration file: the probe reads the monitor's own --config.
    config_dir = tempfile.mkdtemp(prefix="mm-config-")
    os.chmod(config_dir, 0o755)
    with open(os.path.join(config_dir, "config.json"), "w") as f:
        json.dump({"monitoring": {"health_port": 8282, "prometheus_port": 9292}}, f)
    os.chmod(os.path.join(config_dir, "config.json"), 0o644)
    moved = start(["--read-only", "--memory", "256m", "-v", f"{config_dir}:/etc/memory-monitor:ro",
                   "--health-interval", "1s", "--health-start-period", "1s", "--health-timeout", "5s"],
                  command=["--config", "/etc/memory-monitor/config.json"])
    healthy = wait(lambda: health_status(moved) == "healthy", 30)
    last = json.loads(inspect("container", moved, "{{json .State.Health}}") or "{}").get("Log") or [{}]
    output = last[-1].get("Output", "")
    check("image: healthy with health_port 8282 from a --config file, the probe reading the monitor's configuration",
          healthy and "using the configuration of pid" in output, output.strip().replace("\n", " | ") if healthy else health_log(moved))
    docker("rm", "-f", moved)
    shutil.rmtree(config_dir, ignore_errors=True)
    log(f"image checks: {time.monotonic() - started:.0f} s")


def health_log(cid):
    out = inspect("container", cid, "{{json .State.Health}}") or ""
    return out[-600:] + " | " + docker("logs", "--tail", "20", cid, check_status=False).stderr[-800:]


# ---- the compose stack ----------------------------------------------------------------------

def compose(project, files, *args, timeout=300, check_status=True):
    env = dict(os.environ, GRAFANA_ADMIN_PASSWORD="not-used-grafana-is-not-started", DOCKER_HOST="unix:///var/run/docker.sock")
    cmd = [COMPOSE, "-p", project]
    for f in files:
        cmd += ["-f", f]
    return run(cmd + list(args), timeout=timeout, env=env, check_status=check_status)


def fast_rules(source_dir, target_dir):
    """The bundle's Prometheus files with the timings of a test: 1 s intervals, for: 1s."""
    shutil.copytree(source_dir, target_dir)
    for dirpath, _, names in os.walk(target_dir):
        for name in names:
            if not name.endswith(".yml"):
                continue
            path = os.path.join(dirpath, name)
            with open(path) as f:
                text = f.read()
            text = re.sub(r"for: \d+m", "for: 1s", text).replace("interval: 30s", "interval: 1s")
            if name == "prometheus.yml":
                text = text.replace("15s", "1s").replace("scrape_timeout: 5s", "scrape_timeout: 1s")
            with open(path, "w") as f:
                f.write(text)
    for dirpath, dirs, names in os.walk(target_dir):
        os.chmod(dirpath, 0o755)
        for name in names:
            os.chmod(os.path.join(dirpath, name), 0o644)


def compose_checks():
    started = time.monotonic()
    project = f"mmtest{uuid.uuid4().hex[:8]}"
    work = tempfile.mkdtemp(prefix="mm-compose-")
    os.chmod(work, 0o755)
    fast_rules(os.path.join(ROOT, "prometheus"), os.path.join(work, "prometheus"))
    config = {"thresholds": {"memory_warning_mb": 1, "memory_critical_mb": 2, "memory_emergency_mb": 3},
              "alerting": {"alertmanager_url": "http://alertmanager:9093",
                           "alert_levels": {level: {"channels": ["alertmanager"]} for level in ("warning", "critical", "emergency")}}}
    with open(os.path.join(work, "memory-monitor.json"), "w") as f:
        json.dump(config, f)
    os.chmod(os.path.join(work, "memory-monitor.json"), 0o644)
    override = os.path.join(work, "docker-compose.test.yml")
    with open(override, "w") as f:
        f.write(f"""# Test only: local images, ephemeral ports, the rules' timings sped up, thresholds of 1/2/3 MB.
services:
  memory-monitor:
    image: memory-monitor:test
    command: !override ["--config", "/etc/memory-monitor/memory-monitor.json"]
    volumes:
      - {work}/memory-monitor.json:/etc/memory-monitor/memory-monitor.json:ro
    ports: !override ["127.0.0.1::8080", "127.0.0.1::9091"]
  prometheus:
    image: local/prometheus:test
    volumes: !override
      - {work}/prometheus:/etc/prometheus:ro
      - prometheus-data:/prometheus
    ports: !override ["127.0.0.1::9090"]
  alertmanager:
    image: local/alertmanager:test
    ports: !override ["127.0.0.1::9093"]
""")
    files = [os.path.join(ROOT, "docker-compose.yml"), override]
    try:
        up = compose(project, files, "up", "-d", "--no-build", "memory-monitor", "prometheus", "alertmanager", check_status=False)
        if not check("compose: up (Grafana left out: no image of it can be made here)", up.returncode == 0, "" if up.returncode == 0 else up.stderr[-1500:]):
            return
        ids = compose(project, files, "ps", "-q", "-a").stdout.split()
        made["containers"].update(ids)
        prom_port = int(compose(project, files, "port", "prometheus", "9090").stdout.strip().rsplit(":", 1)[1])
        am_port = int(compose(project, files, "port", "alertmanager", "9093").stdout.strip().rsplit(":", 1)[1])

        def targets_up():
            status, body = http(f"http://127.0.0.1:{prom_port}/api/v1/targets")
            if status != 200:
                return None
            active = json.loads(body)["data"]["activeTargets"]
            return [t for t in active if t["labels"].get("job") == "flight-crawler-memory" and t["health"] == "up"]
        check("compose: Prometheus scrapes the exporter (target up)", wait(targets_up, 60))

        def rules():
            status, body = http(f"http://127.0.0.1:{prom_port}/api/v1/rules")
            if status != 200:
                return None
            groups = json.loads(body)["data"]["groups"]
            all_rules = [r for g in groups for r in g["rules"]]
            return all_rules if all_rules and all(r.get("health") == "ok" for r in all_rules) else None
        healthy_rules = wait(rules, 60)
        check("compose: every rule is healthy", healthy_rules, f"{len(healthy_rules or [])} rules")

        def alerts(name):
            status, body = http(f"http://127.0.0.1:{am_port}/api/v2/alerts")
            if status != 200:
                return []
            return [a for a in json.loads(body) if a["labels"].get("alertname") == name]

        def both_paths_fired():
            status, body = http(f"http://127.0.0.1:{prom_port}/api/v1/query?query=" + urllib.request.quote('ALERTS{alertname="MemoryProcessEmergency",alertstate="firing"}'))
            fired = status == 200 and json.loads(body)["data"]["result"]
            return fired and alerts("MemoryProcessEmergency")
        merged = wait(both_paths_fired, 90, step=1)
        emergency = alerts("MemoryProcessEmergency")
        check("compose: the exporter's emergency and the rule's are one alert in Alertmanager",
              merged and len(emergency) == 1, f"{[a['labels'] for a in emergency]}")
        exporter_port = int(compose(project, files, "port", "memory-monitor", "9091").stdout.strip().rsplit(":", 1)[1])
        status, text = http(f"http://127.0.0.1:{exporter_port}/metrics")
        delivered = re.search(r'^memory_alert_deliveries_total\{channel="alertmanager",result="delivered"\} (\S+)', text, re.M)
        check("compose: the exporter delivered its alerts to Alertmanager itself too",
              delivered and float(delivered.group(1)) > 0, delivered.group(0) if delivered else text[:500])
        if emergency:
            labels = emergency[0]["labels"]
            check("compose: the merged alert carries the scrape's job and instance",
                  labels.get("instance") == "memory-monitor:9091" and labels.get("job") == "flight-crawler-memory", f"{labels}")
    finally:
        volumes = [v for v in docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()]
        networks = [n for n in docker("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()]
        made["volumes"].update(volumes)
        made["networks"].update(networks)
        compose(project, files, "down", "-v", "--remove-orphans", "-t", "10", check_status=False)
        shutil.rmtree(work, ignore_errors=True)
        log(f"compose checks: {time.monotonic() - started:.0f} s")


# ---- examples/python-service ----------------------------------------------------------------

def example_checks():
    started = time.monotonic()
    project = f"mmtest{uuid.uuid4().hex[:8]}"
    example = os.path.join(ROOT, "examples", "python-service")
    work = tempfile.mkdtemp(prefix="mm-example-")
    os.chmod(work, 0o755)
    override = os.path.join(work, "docker-compose.test.yml")
    with open(override, "w") as f:
        f.write("""# Test only: local images, an ephemeral port, a 512 MiB app limit, a faster leak.
services:
  app:
    image: local/python:test
    entrypoint: []
    mem_limit: 512m
    environment:
      LEAK_MB_PER_SECOND: "40"
      LEAK_LIMIT_MB: "280"
    ports: !override ["127.0.0.1::8080"]
  memory-monitor:
    image: memory-monitor:test
""")
    files = [os.path.join(example, "docker-compose.yml"), override]
    try:
        up = compose(project, files, "up", "-d", "--no-build", check_status=False)
        if not check("example: up", up.returncode == 0, "" if up.returncode == 0 else up.stderr[-1500:]):
            return
        made["containers"].update(compose(project, files, "ps", "-q", "-a").stdout.split())
        port = int(compose(project, files, "port", "app", "8080").stdout.strip().rsplit(":", 1)[1])

        def memory():
            status, body = http(f"http://127.0.0.1:{port}/health/memory")
            return json.loads(body) if status == 200 else None
        found = wait(lambda: (m := memory()) and m.get("target_up") and m, 60)
        check("example: the sidecar finds the app", found, f"pid {found.get('pid')}, RSS {found.get('rss_mb')} MB" if found else "not found")
        found = found or {}
        agent = wait(lambda: (m := memory()) and (m.get("runtime") or {}).get("agents_up") == 1 and m, 30)
        check("example: the sidecar finds the app's runtime agent (through /proc/PID/root) and reads its collector",
              agent and agent.get("gc_source") == "agent" and (agent.get("gc_objects") or 0) > 0,
              f"gc_objects {agent.get('gc_objects')}, python {agent['runtime'].get('version')}" if agent else f"runtime {(memory() or {}).get('runtime')}")
        check("example: the limit is the app's own (512 MiB, from its cgroup)",
              found.get("limit_source") == "cgroup" and found.get("limit_mb") == 512, f"limit {found.get('limit_mb')} from {found.get('limit_source')}")

        def reclaimed():
            status, body = http(f"http://127.0.0.1:{port}/health/actions?hours=1")
            if status != 200:
                return None
            report = json.loads(body)
            # The brief's block at critical: clear_caches runs the app's clearer inside it, through the agent.
            done = [a for a in report.get("actions", []) if a.get("result") == "ok" and (a.get("reclaimed_bytes") or 0) > 0
                    and "target's agent" in a.get("detail", "")]
            return (done, report.get("reclaimed_bytes")) if done and report.get("reclaimed_bytes", 0) > 0 else None
        done = wait(reclaimed, 90, step=1)
        detail = f"{done[0][0]['action']} reclaimed {done[0][0]['reclaimed_bytes'] / 1048576:.0f} MiB; total {done[1] / 1048576:.0f} MiB" if done else "nothing"
        check("example: the clean-up reclaims memory and the reclaim is reported", done, detail)
    finally:
        made["volumes"].update(docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split())
        made["networks"].update(docker("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split())
        compose(project, files, "down", "-v", "--remove-orphans", "-t", "10", check_status=False)
        shutil.rmtree(work, ignore_errors=True)
        log(f"example checks: {time.monotonic() - started:.0f} s")


def clean_up():
    for cid in made["containers"]:
        docker("rm", "-f", "-v", cid, check_status=False)
    for nid in made["networks"]:
        docker("network", "rm", nid, check_status=False)
    for vid in made["volumes"]:
        docker("volume", "rm", vid, check_status=False)
    left = [c for c in made["containers"] if docker("container", "inspect", c, check_status=False).returncode == 0]
    left += [n for n in made["networks"] if docker("network", "inspect", n, check_status=False).returncode == 0]
    left += [v for v in made["volumes"] if docker("volume", "inspect", v, check_status=False).returncode == 0]
    check("clean-up: every container, network and volume made is gone",
          not left, f"{len(made['containers'])} containers, {len(made['networks'])} networks, {len(made['volumes'])} volumes" if not left else f"{left}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "memory-monitor"))
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        log(f"no binary at {args.binary}: swift build -c release --static-swift-stdlib --product memory-monitor")
        return 1
    started = time.monotonic()
    daemon = ensure_engine()
    try:
        t0 = time.monotonic()
        ensure_base_images()
        build_exporter_image(args.binary)
        log(f"setup and image build: {time.monotonic() - t0:.0f} s")
        for part in (image_checks, compose_checks, example_checks):
            try:
                part()
            except Exception as e:  # a part that breaks is a failed check, and the others still run
                check(f"{part.__name__} ran to the end", False, repr(e)[:1500])
        clean_up()
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
    failed = [name for name, ok in results if not ok]
    log(f"container tests: {len(results) - len(failed)} of {len(results)} checks passed in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
