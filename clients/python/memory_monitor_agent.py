"""memory-monitor's agent inside a Python service: the monitor reads the service's garbage
collector and runs its clean-up where the memory is.

    import memory_monitor_agent as agent
    agent.start()                                        # listens for the monitor; idempotent
    agent.add_cache_clearer(cache.clear)                 # clear_caches
    agent.add_cache_clearer(big_cache.clear, priority="all")   # only clear_all_caches
    with agent.gate(): ...                               # and `async with agent.gate():` (asyncio)
    agent.register_non_essential(task_or_callback)       # stopped at emergency
    agent.on_prepare_restart(flush_state)                # before a restart

The agent serves HTTP/1.1 with JSON on a Unix domain socket (no network port), on threads of
its own: never in a signal handler, never on the service's event loop. Each connection's peer
is checked with SO_PEERCRED: root, the service's own uid and the uids it allows are served.

Socket path: $MEMORY_MONITOR_AGENT_SOCKET if set, else
$MEMORY_MONITOR_AGENT_DIR (default /tmp) / memory-monitor-agent.<pid>.sock. The monitor finds it
without configuration: it reads which Unix sockets the target process has open
(/proc/PID/fd and /proc/PID/net/unix) and connects through /proc/PID/root, or through its own
mount of a shared directory (a Kubernetes emptyDir).

Standard library only. One file: copy it into a service to vendor it.
"""

import asyncio
import atexit
import ctypes
import ctypes.util
import gc
import inspect
import json
import os
import platform
import socket
import struct
import sys
import threading
import time
import tracemalloc

__all__ = [
    "start", "stop", "socket_path", "add_cache_clearer", "remove_cache_clearer", "gate", "set_gate_limit",
    "register_non_essential", "unregister_non_essential", "on_prepare_restart", "report", "collect",
    "clear_caches", "AgentBusy",
]
__version__ = "0.1.0"

SOCKET_NAME = "memory-monitor-agent"
MAX_REQUEST_BYTES = 64 * 1024
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


class AgentBusy(Exception):
    """Another action is running: actions run one at a time."""


# ----------------------------------------------------------------------------------------------
# The admission gate


class _Gate:
    """A concurrency limit that both threads (`with`) and coroutines (`async with`) pass through.

    The limit is the service's own (`set_gate_limit`, None for no limit) unless the monitor has
    throttled it; `restore` goes back to the service's own."""

    def __init__(self):
        self._cond = threading.Condition()
        self._own_limit = None
        self._throttle = None
        self._active = 0
        self._waiting = 0
        self._peak = 0
        self._peak_reset_pending = False
        self._admitted = 0
        self._async_waiters = []  # futures of coroutines waiting, with their loops

    @property
    def limit(self):
        return self._throttle if self._throttle is not None else self._own_limit

    def _free(self):
        limit = self.limit
        return limit is None or self._active < limit

    def _wake(self):
        self._cond.notify_all()
        waiters, self._async_waiters = self._async_waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    def set_limits(self, own=None, throttle=None, restore=False, set_own=False):
        with self._cond:
            previous = self.limit
            if set_own:
                self._own_limit = own
            if restore:
                self._throttle = None
            elif throttle is not None:
                self._throttle = max(1, int(throttle))
                # The peak counts from when the new limit holds: once the work admitted before it drains.
                self._peak_reset_pending = True
                self._settle_peak()
            self._wake()
            return previous, self.limit

    def acquire(self):
        with self._cond:
            self._waiting += 1
            try:
                while not self._free():
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._enter()

    def _enter(self):
        self._active += 1
        self._admitted += 1
        self._peak = max(self._peak, self._active)

    def _settle_peak(self):
        limit = self.limit
        if self._peak_reset_pending and (limit is None or self._active <= limit):
            self._peak = self._active
            self._peak_reset_pending = False

    def release(self):
        with self._cond:
            self._active -= 1
            self._settle_peak()
            self._wake()

    async def acquire_async(self):
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self._free():
                    self._enter()
                    return
                future = loop.create_future()
                self._async_waiters.append((loop, future))
                self._waiting += 1
            try:
                await future
            finally:
                with self._cond:
                    self._waiting -= 1
                    if (loop, future) in self._async_waiters:
                        self._async_waiters.remove((loop, future))

    def status(self):
        with self._cond:
            return {
                "limit": self.limit, "own_limit": self._own_limit, "throttled": self._throttle is not None,
                "active": self._active, "waiting": self._waiting, "peak": self._peak, "admitted": self._admitted,
            }

    def reset_peak(self):
        with self._cond:
            self._peak_reset_pending = True
            self._settle_peak()


def _resolve(future):
    if not future.done():
        future.set_result(None)


class _Pass:
    """`with agent.gate():` and `async with agent.gate():`."""

    def __init__(self, g):
        self._gate = g

    def __enter__(self):
        self._gate.acquire()
        return self

    def __exit__(self, *exc):
        self._gate.release()
        return False

    async def __aenter__(self):
        await self._gate.acquire_async()
        return self

    async def __aexit__(self, *exc):
        self._gate.release()
        return False


# ----------------------------------------------------------------------------------------------
# What the service registers


class _Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.clearers = []  # (name, priority, fn, loop)
        self.non_essential = {}  # id -> (name, target, loop)
        self.prepare = []  # (name, fn, loop)
        self.next_id = 0


def _name(obj):
    if isinstance(obj, asyncio.Task):
        return obj.get_name()
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    if owner is not None and not inspect.ismodule(owner):
        name = f"{type(owner).__name__}.{getattr(obj, '__name__', name)}"
    return name


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# ----------------------------------------------------------------------------------------------
# The agent


class _Agent:
    def __init__(self):
        self.lock = threading.Lock()
        self.action_lock = threading.Lock()
        self.gate = _Gate()
        self.registry = _Registry()
        self.server = None
        self.path = None
        self.pid = None
        self.allowed_uids = set()
        self.objects_interval = 10.0
        self.objects = None  # (count, taken_at, seconds)
        self.objects_lock = threading.Lock()
        self.loop = None
        self.started_at = None
        self.requests = 0
        self.refused = 0
        self.actions = 0
        self.tracemalloc_started_by_agent = False
        self.profile = None  # the running allocation profile: baseline snapshot and who started tracing
        self._trim = _malloc_trim()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, path=None, allowed_uids=(), objects_interval=10.0, loop=None):
        with self.lock:
            if self.server is not None and self.pid == os.getpid():
                self.allowed_uids.update(int(u) for u in allowed_uids)
                return self.path
            self.pid = os.getpid()
            self.path = path or _default_path()
            self.allowed_uids = {int(u) for u in allowed_uids} | _env_uids()
            self.objects_interval = float(objects_interval)
            self.loop = loop or _running_loop() or self.loop
            self.started_at = time.time()
            if os.environ.get("MEMORY_MONITOR_TRACEMALLOC", "").lower() in ("1", "true", "yes") and not tracemalloc.is_tracing():
                tracemalloc.start()
                self.tracemalloc_started_by_agent = True
            self.server = _Server(self, self.path)
            self.server.start()
            return self.path

    def stop(self):
        with self.lock:
            server, self.server = self.server, None
        if server is not None:
            server.close()

    def after_fork_in_child(self):
        # The listening thread did not survive the fork; the child has a pid (and a socket) of its own.
        self.lock = threading.Lock()
        self.action_lock = threading.Lock()
        self.objects_lock = threading.Lock()
        was_serving = self.server is not None
        self.server = None
        if was_serving and os.environ.get("MEMORY_MONITOR_AGENT_SOCKET") is None:
            try:
                self.start(allowed_uids=tuple(self.allowed_uids), objects_interval=self.objects_interval)
            except OSError as error:  # the child serves without an agent rather than failing
                print(f"memory_monitor_agent: not listening in child {os.getpid()}: {error}", file=sys.stderr)

    # -- the report --------------------------------------------------------------------------

    def object_count(self, refresh=False):
        """`len(gc.get_objects())`, at most every `objects_interval` seconds: it is O(objects)."""
        now = time.monotonic()
        with self.objects_lock:
            cached = self.objects
            if not refresh and cached is not None and now - cached[1] < self.objects_interval:
                return cached
            started = time.perf_counter()
            count = len(gc.get_objects())
            self.objects = (count, now, time.perf_counter() - started)
            return self.objects

    def report(self):
        count, taken, seconds = self.object_count()
        stats = gc.get_stats()
        with self.registry.lock:
            clearers = [{"name": n, "priority": p} for n, p, _, _ in self.registry.clearers]
            non_essential = [n for n, _, _ in self.registry.non_essential.values()]
            prepare = [n for n, _, _ in self.registry.prepare]
        traced, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
        return {
            "agent_version": __version__,
            "pid": os.getpid(),
            "interpreter": platform.python_implementation(),
            "version": platform.python_version(),
            "executable": sys.executable,
            "uptime_seconds": round(time.time() - (self.started_at or time.time()), 3),
            "gc": {
                "enabled": gc.isenabled(),
                "count": list(gc.get_count()),
                "threshold": list(gc.get_threshold()),
                "generations": [
                    {"generation": i, "collections": s.get("collections", 0), "collected": s.get("collected", 0),
                     "uncollectable": s.get("uncollectable", 0)}
                    for i, s in enumerate(stats)
                ],
                "objects": count,
                "objects_age_seconds": round(time.monotonic() - taken, 3),
                "objects_count_seconds": round(seconds, 6),
                "garbage": len(gc.garbage),
            },
            "threads": threading.active_count(),
            "tracemalloc": {
                "tracing": tracemalloc.is_tracing(),
                "started_by_agent": self.tracemalloc_started_by_agent,
                "traced_bytes": traced,
                "peak_bytes": peak,
            },
            "gate": self.gate.status(),
            "clearers": clearers,
            "non_essential": non_essential,
            "prepare_restart": prepare,
            "rss_bytes": _rss_bytes(),
            "agent": {"requests": self.requests, "refused": self.refused, "actions": self.actions,
                      "action_running": self.action_lock.locked()},
        }

    # -- actions -----------------------------------------------------------------------------

    def run_action(self, name, params, wait=False):
        if not self.action_lock.acquire(blocking=wait):
            raise AgentBusy(name)
        try:
            self.actions += 1
            started = time.perf_counter()
            result = getattr(self, "action_" + name)(params)
            result["action"] = name
            result["duration_seconds"] = round(time.perf_counter() - started, 6)
            return result
        finally:
            self.action_lock.release()

    def action_gc(self, params):
        generation = int(params.get("generation", 2))
        cycles = int(params.get("cycles", 1))
        if generation not in (0, 1, 2):
            raise ValueError("generation must be 0, 1 or 2")
        if not 1 <= cycles <= 100:
            raise ValueError("cycles must be 1 to 100")
        rss_before = _rss_bytes()
        before = len(gc.get_objects())
        collected = [gc.collect(generation) for _ in range(cycles)]
        after = len(gc.get_objects())
        self.objects = (after, time.monotonic(), 0.0)
        trimmed = self._trim() if self._trim is not None else None
        return {
            "generation": generation, "cycles": cycles, "objects_before": before, "collected": collected,
            "collected_total": sum(collected), "objects_after": after, "uncollectable": len(gc.garbage),
            "malloc_trim": trimmed, "rss_before_bytes": rss_before, "rss_after_bytes": _rss_bytes(),
        }

    def action_clear_caches(self, params):
        priority = params.get("priority", "normal")
        if priority not in ("normal", "all"):
            raise ValueError("priority must be normal or all")
        timeout = float(params.get("timeout", 10))
        with self.registry.lock:
            chosen = [c for c in self.registry.clearers if priority == "all" or c[1] == "normal"]
        rss_before = _rss_bytes()
        ran = [_call(name, fn, loop or self.loop, timeout) for name, _, fn, loop in chosen]
        return {"priority": priority, "clearers": ran, "failed": sum(1 for r in ran if r["result"] != "ok"),
                "rss_before_bytes": rss_before, "rss_after_bytes": _rss_bytes()}

    def action_throttle(self, params):
        if "limit" not in params:
            raise ValueError("limit is required")
        limit = int(params["limit"])
        if limit < 1:
            raise ValueError("limit must be at least 1")
        previous, now = self.gate.set_limits(throttle=limit)
        return {"previous_limit": previous, "limit": now}

    def action_restore(self, params):
        previous, now = self.gate.set_limits(restore=True)
        return {"previous_limit": previous, "limit": now}

    def action_stop_non_essential(self, params):
        with self.registry.lock:
            items, self.registry.non_essential = list(self.registry.non_essential.values()), {}
        stopped = []
        for name, target, loop in items:
            try:
                if isinstance(target, (asyncio.Task, asyncio.Future)):
                    target_loop = target.get_loop()
                    target_loop.call_soon_threadsafe(target.cancel)
                    stopped.append({"name": name, "kind": "task", "result": "ok"})
                else:
                    stopped.append(dict(_call(name, target, loop or self.loop, float(params.get("timeout", 10))), kind="callback"))
            except Exception as error:  # noqa: BLE001 - reported, never raised into the agent
                stopped.append({"name": name, "result": "failed", "error": repr(error)})
        return {"stopped": stopped}

    def action_prepare_restart(self, params):
        timeout = float(params.get("timeout", 10))
        with self.registry.lock:
            hooks = list(self.registry.prepare)
        return {"hooks": [_call(name, fn, loop or self.loop, timeout) for name, fn, loop in hooks]}


    # -- allocation sites (tracemalloc), on request -------------------------------------------

    def action_tracemalloc(self, params):
        """Tracing from now on (`monitoring.enable_tracemalloc`), or off again if the agent started it."""
        enable = params.get("enable", True) not in (False, "0", "false")
        depth = int(params.get("depth", 8))
        if not 1 <= depth <= 64:
            raise ValueError("depth must be 1 to 64")
        if enable and not tracemalloc.is_tracing():
            tracemalloc.start(depth)
            self.tracemalloc_started_by_agent = True
        elif not enable and self.tracemalloc_started_by_agent and self.profile is None and tracemalloc.is_tracing():
            tracemalloc.stop()
            self.tracemalloc_started_by_agent = False
        return {"tracing": tracemalloc.is_tracing(), "traceback_limit": tracemalloc.get_traceback_limit(),
                "started_by_agent": self.tracemalloc_started_by_agent,
                "tracemalloc_bytes": tracemalloc.get_tracemalloc_memory() if tracemalloc.is_tracing() else 0}

    def action_profile_start(self, params):
        """Starts tracemalloc if it is not tracing (remembering that this profile started it) and
        takes the baseline snapshot."""
        depth = int(params.get("depth", 8))
        if not 1 <= depth <= 64:
            raise ValueError("depth must be 1 to 64")
        if self.profile is not None:
            raise AgentBusy("profile_start (a profile is running)")
        started_here = not tracemalloc.is_tracing()
        if started_here:
            tracemalloc.start(depth)
        started = time.perf_counter()
        baseline = tracemalloc.take_snapshot()
        seconds = time.perf_counter() - started
        self.profile = {"baseline": baseline, "started_here": started_here, "started_at": time.monotonic()}
        return {"started_tracing": started_here, "traceback_limit": tracemalloc.get_traceback_limit(),
                "snapshot_seconds": round(seconds, 6), "tracemalloc_bytes": tracemalloc.get_tracemalloc_memory()}

    def action_profile_stop(self, params):
        """The difference from the baseline, grouped by line, top N by growth; then tracing that
        this profile started is stopped (its traces freed)."""
        top = int(params.get("top", 10))
        depth = int(params.get("depth", 8))
        profile = self.profile
        if profile is None:
            raise ValueError("no profile is running (POST /actions/profile_start first)")
        try:
            started = time.perf_counter()
            snapshot = tracemalloc.take_snapshot()
            seconds = time.perf_counter() - started
            overhead = tracemalloc.get_tracemalloc_memory()
            # Grouped first, then the agent's, tracemalloc's and importlib's lines left out: filtering
            # every trace (fnmatch per trace and filter) costs seconds once tracing has run a while.
            by_line = [stat for stat in snapshot.compare_to(profile["baseline"], "lineno")
                       if stat.traceback[-1].filename not in _EXCLUDED_FILES]
            by_line.sort(key=lambda s: s.size_diff, reverse=True)
            chosen = by_line[:max(0, top)]
            by_traceback = _paths_through(snapshot, profile["baseline"], {(s.traceback[-1].filename, s.traceback[-1].lineno) for s in chosen})
        finally:
            self.profile = None
            if profile["started_here"] and tracemalloc.is_tracing():
                tracemalloc.stop()
        growth = sum(stat.size_diff for stat in by_line if stat.size_diff > 0)
        # For each line, the call path that grew most through it: the caller of a helper that leaks.
        paths = {}
        for stat in by_traceback:
            frame = stat.traceback[-1]
            key = (frame.filename, frame.lineno)
            if stat.size_diff > 0 and (key not in paths or stat.size_diff > paths[key].size_diff):
                paths[key] = stat
        root = _service_root()
        sites = []
        for stat in chosen:
            frame = stat.traceback[-1]
            path = paths.get((frame.filename, frame.lineno))
            frames = list(path.traceback) if path is not None else [frame]
            file, package = _display_path(frame.filename, root)
            sites.append({
                "site": f"{file}:{frame.lineno}", "file": file, "line": frame.lineno, "package": package,
                "function": _function_at(frame.filename, frame.lineno),
                "size_diff_bytes": stat.size_diff, "count_diff": stat.count_diff, "size_bytes": stat.size,
                "share_of_growth": round(stat.size_diff / growth, 4) if growth > 0 and stat.size_diff > 0 else 0,
                "traceback": [f"{_display_path(f.filename, root)[0]}:{f.lineno} in {_function_at(f.filename, f.lineno)}"
                              for f in reversed(frames[-depth:])],
            })
        return {"profile_seconds": round(time.monotonic() - profile["started_at"], 3), "growth_bytes": growth, "sites": sites,
                "snapshot_seconds": round(seconds, 6), "tracemalloc_bytes": overhead, "stopped_tracing": profile["started_here"]}


_EXCLUDED_FILES = {
    os.path.abspath(__file__), __file__, tracemalloc.__file__, "<frozen importlib._bootstrap>",
    "<frozen importlib._bootstrap_external>", "<unknown>",
}


def _paths_through(snapshot, baseline, lines):
    """Growth by call path, for the traces whose most recent frame is one of `lines` only (one
    pass over the traces; grouping every trace by its whole traceback costs much more)."""
    def subset(snap):
        try:
            raw = snap.traces._traces  # (domain, size, frames most recent first, total frames)
            kept = [t for t in raw if t[2] and (t[2][0][0], t[2][0][1]) in lines]
            return tracemalloc.Snapshot(kept, snap.traceback_limit)
        except (AttributeError, IndexError, TypeError):  # another interpreter's layout: the whole snapshot
            return snap
    return subset(snapshot).compare_to(subset(baseline), "traceback")


def _service_root():
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.dirname(os.path.abspath(main)) if main else os.getcwd()


def _display_path(filename, root):
    """A path as a person reads it: relative to the service's root; a package's module as the
    package's path; the standard library as <stdlib>/...; and the package name, if any."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            return rest, rest.split("/", 1)[0].removesuffix(".py")
    if root and filename.startswith(root.rstrip("/") + "/"):
        return filename[len(root.rstrip("/")) + 1:], None
    stdlib = os.path.dirname(os.__file__)
    if filename.startswith(stdlib + "/"):
        return "<stdlib>/" + filename[len(stdlib) + 1:], None
    return filename, None


def _function_at(filename, lineno):
    """The name of the function enclosing a line, read from the source (tracemalloc keeps only
    file and line): the nearest `def` above it that is indented less."""
    import linecache

    line = linecache.getline(filename, lineno)
    if not line.strip():
        return "?"
    indent = len(line) - len(line.lstrip())
    for n in range(lineno - 1, 0, -1):
        text = linecache.getline(filename, n)
        stripped = text.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        level = len(text) - len(stripped)
        if level >= indent:
            continue
        if stripped.startswith(("def ", "async def ")):
            return stripped.split("def ", 1)[1].split("(", 1)[0].strip()
        indent = level
        if level == 0:
            break
    return "<module>"


def _call(name, fn, loop, timeout):
    """Runs a clearer or hook within `timeout`: a coroutine function on the service's event loop,
    anything else on a thread of its own (so a hung one is reported, not waited for)."""
    started = time.perf_counter()
    entry = {"name": name}
    try:
        if inspect.iscoroutinefunction(fn):
            if loop is None or loop.is_closed():
                raise RuntimeError("a coroutine needs the service's event loop (call start() from it, or pass loop=)")
            future = asyncio.run_coroutine_threadsafe(fn(), loop)
            try:
                future.result(timeout)
            except TimeoutError:
                future.cancel()
                raise
        else:
            box = {}

            def run():
                try:
                    result = fn()
                    if inspect.isawaitable(result):
                        if loop is None:
                            raise RuntimeError("an awaitable needs the service's event loop")
                        asyncio.run_coroutine_threadsafe(_await(result), loop).result(timeout)
                except BaseException as error:  # noqa: BLE001
                    box["error"] = error

            worker = threading.Thread(target=run, name=f"memory-monitor-agent:{name}", daemon=True)
            worker.start()
            worker.join(timeout)
            if worker.is_alive():
                raise TimeoutError
            if "error" in box:
                raise box["error"]
        entry["result"] = "ok"
    except TimeoutError:
        entry["result"] = "timeout"
        entry["error"] = f"still running after {timeout:g} s"
    except Exception as error:  # noqa: BLE001
        entry["result"] = "failed"
        entry["error"] = repr(error)
    entry["duration_seconds"] = round(time.perf_counter() - started, 6)
    return entry


async def _await(awaitable):
    return await awaitable


# ----------------------------------------------------------------------------------------------
# The Unix socket server: HTTP/1.1, keep-alive, one thread per connection


class _Server:
    def __init__(self, agent, path):
        self.agent = agent
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        _unlink_stale(path)
        self.sock.bind(path)
        # Access is decided per connection by SO_PEERCRED, so any local user may connect.
        os.chmod(path, 0o666)
        self.sock.listen(16)
        self.closed = False
        self.thread = threading.Thread(target=self.serve, name="memory-monitor-agent", daemon=True)

    def start(self):
        self.thread.start()

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        try:
            if os.path.exists(self.path):
                os.unlink(self.path)
        except OSError:
            pass

    def serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                if self.closed:
                    return
                time.sleep(0.05)
                continue
            threading.Thread(target=self.connection, args=(conn,), name="memory-monitor-agent-conn", daemon=True).start()

    def allowed(self, conn):
        pid, uid, gid = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        return uid == 0 or uid == os.getuid() or uid in self.agent.allowed_uids, uid

    def connection(self, conn):
        agent = self.agent
        with conn:
            try:
                ok, uid = self.allowed(conn)
            except OSError:
                return
            if not ok:
                agent.refused += 1
                # Read the request first: a Unix socket closed with unread data resets the peer,
                # which would then never see why it was refused.
                conn.settimeout(1)
                try:
                    _read_request(conn, b"")
                except (OSError, ValueError):
                    pass
                _send(conn, 403, {"error": f"uid {uid} may not use this agent (allowed: root, {os.getuid()}"
                                           f"{''.join(', ' + str(u) for u in sorted(agent.allowed_uids))})"}, close=True)
                return
            conn.settimeout(60)
            buffer = b""
            while True:
                try:
                    request, buffer = _read_request(conn, buffer)
                except (OSError, ValueError) as error:
                    if isinstance(error, ValueError):
                        _send(conn, 400, {"error": str(error)}, close=True)
                    return
                if request is None:
                    return
                method, target, headers, body = request
                agent.requests += 1
                close = headers.get("connection", "").lower() == "close"
                status, payload = self.handle(method, target, body)
                try:
                    _send(conn, status, payload, close=close)
                except OSError:
                    return
                if close:
                    return

    def handle(self, method, target, body):
        agent = self.agent
        path, _, query = target.partition("?")
        params = dict(p.split("=", 1) if "=" in p else (p, "") for p in query.split("&") if p)
        try:
            if body:
                decoded = json.loads(body)
                if not isinstance(decoded, dict):
                    return 400, {"error": "the body must be a JSON object"}
                params.update(decoded)
            if path in ("/", "/report"):
                if method != "GET":
                    return 405, {"error": f"{path} answers GET"}
                return 200, agent.report()
            if path.startswith("/actions/"):
                name = path[len("/actions/"):]
                if not hasattr(agent, "action_" + name):
                    return 404, {"error": f"no action {name!r}",
                                 "actions": ["gc", "clear_caches", "throttle", "restore", "stop_non_essential", "prepare_restart"]}
                if method != "POST":
                    return 405, {"error": f"{path} answers POST"}
                wait = str(params.get("wait", "")).lower() in ("1", "true")
                return 200, agent.run_action(name, params, wait=wait)
            return 404, {"error": f"no resource {path}", "resources": ["/report", "/actions/<name>"]}
        except AgentBusy as busy:
            return 409, {"error": f"another action is running; {busy} was not started"}
        except (ValueError, TypeError) as error:
            return 400, {"error": str(error)}
        except Exception as error:  # noqa: BLE001 - the agent keeps serving
            return 500, {"error": repr(error)}


_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 413: "Payload Too Large", 500: "Internal Server Error"}


def _send(conn, status, payload, close=False):
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n")
    conn.sendall(head.encode() + body)


def _read_request(conn, buffer):
    """One request from `conn`: (method, target, headers, body), and what was read past it."""
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > MAX_REQUEST_BYTES:
            raise ValueError("request head too large")
        chunk = conn.recv(65536)
        if not chunk:
            if buffer:
                raise ValueError("the request ended early")
            return None, b""
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("malformed request line")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("malformed header")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length < 0 or length > MAX_REQUEST_BYTES:
        raise ValueError("body too large")
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("the body ended early")
        rest += chunk
    return (parts[0], parts[1], headers, rest[:length]), rest[length:]


# ----------------------------------------------------------------------------------------------
# Helpers


def _default_path():
    explicit = os.environ.get("MEMORY_MONITOR_AGENT_SOCKET")
    if explicit:
        return os.path.abspath(explicit)
    directory = os.environ.get("MEMORY_MONITOR_AGENT_DIR") or "/tmp"
    return os.path.join(os.path.abspath(directory), f"{SOCKET_NAME}.{os.getpid()}.sock")


def _unlink_stale(path):
    """Removes a socket left by a process that is gone; refuses to take one that answers, and
    never removes anything that is not a socket."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket: not replaced")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(f"{path} is in use by another agent")


def _env_uids():
    text = os.environ.get("MEMORY_MONITOR_AGENT_ALLOWED_UIDS", "")
    return {int(u) for u in text.replace(",", " ").split() if u.strip()}


def _rss_bytes():
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _malloc_trim():
    """glibc's malloc_trim(0), which hands freed heap back to the kernel; None elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: bool(trim(0))


# ----------------------------------------------------------------------------------------------
# The public API

_agent = _Agent()
atexit.register(_agent.stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_agent.after_fork_in_child)


def start(path=None, allowed_uids=(), objects_interval=10.0, loop=None):
    """Starts listening for the monitor (idempotent) and returns the socket path.

    allowed_uids: uids besides root and the service's own that may connect (also
    $MEMORY_MONITOR_AGENT_ALLOWED_UIDS). objects_interval: the live object count is taken at most
    this often. loop: the event loop coroutine clearers run on (default: the running loop)."""
    return _agent.start(path, allowed_uids, objects_interval, loop)


def stop():
    """Stops listening and removes the socket."""
    _agent.stop()


def socket_path():
    """The socket the agent listens on, or None."""
    return _agent.path if _agent.server is not None else None


def add_cache_clearer(fn, priority="normal", name=None):
    """Registers a cache clearer: `clear_caches` runs the "normal" ones, `clear_all_caches` all.
    A coroutine function runs on the service's event loop."""
    if priority not in ("normal", "all"):
        raise ValueError("priority must be 'normal' or 'all'")
    with _agent.registry.lock:
        _agent.registry.clearers.append((name or _name(fn), priority, fn, _running_loop()))


def remove_cache_clearer(fn):
    with _agent.registry.lock:
        _agent.registry.clearers = [c for c in _agent.registry.clearers if c[2] is not fn]


def gate():
    """The admission gate: `with agent.gate():` or `async with agent.gate():` around a unit of
    work. Unlimited unless the service sets a limit or the monitor throttles."""
    return _Pass(_agent.gate)


def set_gate_limit(limit):
    """The service's own limit (None: unlimited); the monitor's throttle overrides it until restored."""
    _agent.gate.set_limits(own=None if limit is None else max(1, int(limit)), set_own=True)


def register_non_essential(target, name=None):
    """Registers work stopped at emergency: an asyncio Task (cancelled) or a callable (called).
    Returns an id for `unregister_non_essential`."""
    with _agent.registry.lock:
        _agent.registry.next_id += 1
        ident = _agent.registry.next_id
        _agent.registry.non_essential[ident] = (name or _name(target), target, _running_loop())
    return ident


def unregister_non_essential(ident):
    with _agent.registry.lock:
        _agent.registry.non_essential.pop(ident, None)


def on_prepare_restart(fn, name=None):
    """Registers a hook run before a restart (flush state, stop accepting work)."""
    with _agent.registry.lock:
        _agent.registry.prepare.append((name or _name(fn), fn, _running_loop()))


def report():
    """What the monitor reads: the collector, threads, tracemalloc, the gate, what is registered."""
    return _agent.report()


def collect(generation=2, cycles=1):
    """The `gc` action, run here (for tests and for a service's own use)."""
    return _agent.run_action("gc", {"generation": generation, "cycles": cycles}, wait=True)


def clear_caches(priority="normal", timeout=10):
    """The `clear_caches` action, run here."""
    return _agent.run_action("clear_caches", {"priority": priority, "timeout": timeout}, wait=True)
