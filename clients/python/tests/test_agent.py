"""The agent against real sockets, threads, event loops and uids (no mocks)."""

import asyncio
import gc
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import request


class Node:
    def __init__(self):
        self.other = None
        self.payload = bytearray(1024)


def make_cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a


def test_report_has_the_collector_threads_tracemalloc_and_gate(agent):
    status, report = request("/report")
    assert status == 200
    assert report["interpreter"] == "CPython"
    assert report["version"] == ".".join(map(str, sys.version_info[:3]))
    assert report["pid"] == os.getpid()
    assert len(report["gc"]["generations"]) == 3
    assert report["gc"]["enabled"] is True
    assert report["gc"]["objects"] > 1000
    assert report["threads"] >= 2  # the test's and the agent's
    assert report["tracemalloc"]["tracing"] in (True, False)
    assert report["gate"]["limit"] is None
    assert report["rss_bytes"] > 1 << 20


def test_socket_is_discoverable_in_proc_net_unix(agent):
    # The monitor's discovery: a Unix socket inode among the process's fds, with our name's path.
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    with open("/proc/self/net/unix") as f:
        paths = [line.split()[7] for line in f.readlines()[1:] if len(line.split()) >= 8 and line.split()[6] in inodes]
    assert agent.socket_path() in paths


def test_gc_frees_a_reference_cycle_leak_and_counts_match_gc_collect(agent):
    gc.disable()
    try:
        gc.collect()
        make_cycles(20000)  # 40 000 Node objects (and their dicts, bytearrays) only the collector frees
        status, answer = request("/actions/gc", "POST", {"generation": 2, "cycles": 2})
    finally:
        gc.enable()
    assert status == 200
    assert answer["cycles"] == 2
    assert answer["collected"][0] >= 40000
    assert answer["objects_before"] - answer["objects_after"] >= 40000
    assert answer["collected_total"] == sum(answer["collected"])
    assert answer["rss_before_bytes"] > 0 and answer["rss_after_bytes"] > 0


def test_clear_caches_by_priority_and_a_hung_clearer_times_out(agent):
    calls = []
    agent.add_cache_clearer(lambda: calls.append("normal"), name="small")
    agent.add_cache_clearer(lambda: calls.append("all"), priority="all", name="big")
    status, answer = request("/actions/clear_caches", "POST", {"priority": "normal"})
    assert status == 200 and calls == ["normal"]
    assert [c["name"] for c in answer["clearers"]] == ["small"]
    status, answer = request("/actions/clear_caches", "POST", {"priority": "all"})
    assert calls == ["normal", "normal", "all"]

    release = threading.Event()
    agent.add_cache_clearer(lambda: release.wait(60), name="hangs")
    started = time.monotonic()
    status, answer = request("/actions/clear_caches", "POST", {"priority": "normal", "timeout": 0.5})
    release.set()
    assert time.monotonic() - started < 5
    hung = [c for c in answer["clearers"] if c["name"] == "hangs"][0]
    assert hung["result"] == "timeout"
    assert answer["failed"] == 1


def test_a_second_action_while_one_runs_gets_409_and_reports_still_answer(agent):
    release = threading.Event()
    agent.add_cache_clearer(lambda: release.wait(10), name="slow")
    results = {}
    t = threading.Thread(target=lambda: results.update(first=request("/actions/clear_caches", "POST", {"timeout": 10})))
    t.start()
    deadline = time.monotonic() + 5
    while not agent._agent.action_lock.locked() and time.monotonic() < deadline:
        time.sleep(0.01)
    status, answer = request("/actions/gc", "POST", {})
    assert status == 409, answer
    status, report = request("/report")
    assert status == 200 and report["agent"]["action_running"] is True
    release.set()
    t.join(10)
    assert results["first"][0] == 200


def run_workers(agent, n, seconds):
    def work():
        with agent.gate():
            time.sleep(seconds)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def test_throttle_limits_threads_and_restore_lifts_it(agent):
    status, answer = request("/actions/throttle", "POST", {"limit": 4})
    assert status == 200 and answer["limit"] == 4
    run_workers(agent, 16, 0.05)
    assert agent.report()["gate"]["peak"] == 4
    status, answer = request("/actions/restore", "POST")
    assert answer == {**answer, "previous_limit": 4, "limit": None}
    agent._agent.gate.reset_peak()
    run_workers(agent, 16, 0.2)
    assert agent.report()["gate"]["peak"] > 4


def test_throttle_limits_coroutines(agent):
    request("/actions/throttle", "POST", {"limit": 3})
    active = 0
    peak = 0

    async def work():
        nonlocal active, peak
        async with agent.gate():
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.05)
            active -= 1

    async def main():
        await asyncio.gather(*(work() for _ in range(16)))

    asyncio.run(main())
    assert peak == 3
    request("/actions/restore", "POST")


def test_coroutine_clearers_and_tasks_run_on_the_service_loop(agent, tmp_path):
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        agent.stop()
        agent.start(path=str(tmp_path / "loop.sock"), objects_interval=0)

        async def clear():
            seen["loop"] = asyncio.get_running_loop()

        agent.add_cache_clearer(clear)
        task = asyncio.create_task(asyncio.sleep(60), name="crawler-prefetch")
        agent.register_non_essential(task)
        status, answer = await loop.run_in_executor(None, lambda: request("/actions/clear_caches", "POST", {}))
        assert answer["clearers"][0]["result"] == "ok"
        status, answer = await loop.run_in_executor(None, lambda: request("/actions/stop_non_essential", "POST", {}))
        assert answer["stopped"][0]["name"] == "crawler-prefetch"
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen["loop"] is loop

    asyncio.run(main())


def test_prepare_restart_runs_hooks(agent):
    flushed = []
    agent.on_prepare_restart(lambda: flushed.append(True), name="flush")
    status, answer = request("/actions/prepare_restart", "POST", {})
    assert status == 200 and answer["hooks"][0]["result"] == "ok" and flushed == [True]


def test_bad_requests_get_4xx_and_the_agent_keeps_serving(agent):
    assert request("/actions/nope", "POST")[0] == 404
    assert request("/actions/gc", "GET")[0] == 405
    assert request("/actions/gc", "POST", {"cycles": 0})[0] == 400
    assert request("/actions/throttle", "POST", {})[0] == 400
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(agent.socket_path())
        s.sendall(b"GARBAGE\r\n\r\n")
        assert b" 400 " in s.recv(4096)
    assert request("/report")[0] == 200


def test_keep_alive_serves_several_requests_on_one_connection(agent):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(agent.socket_path())
        for _ in range(3):
            s.sendall(b"GET /report HTTP/1.1\r\nHost: a\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
            while len(body) < length:
                body += s.recv(65536)
            assert head.startswith(b"HTTP/1.1 200")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another uid (CI runs as root)")
def test_a_uid_that_is_not_allowed_is_refused(agent):
    client = (
        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
        "s.sendall(b'GET /report HTTP/1.1\\r\\n\\r\\n'); print(s.recv(4096).split(b'\\r\\n')[0].decode())"
    )
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", client,
                          agent.socket_path()], capture_output=True, text=True, timeout=30)
    assert "403" in out.stdout, out
    agent._agent.allowed_uids.add(65534)
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", client,
                          agent.socket_path()], capture_output=True, text=True, timeout=30)
    assert "200" in out.stdout, out


def test_start_is_idempotent_and_a_live_socket_is_not_stolen(agent, tmp_path):
    path = agent.socket_path()
    assert agent.start() == path
    out = subprocess.run([sys.executable, "-c", "import memory_monitor_agent as a, sys; a.start(path=sys.argv[1])", path],
                         capture_output=True, text=True, timeout=30, cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert out.returncode != 0 and "in use" in out.stderr
    assert request("/report")[0] == 200


def test_a_forked_child_serves_its_own_socket(tmp_path):
    import memory_monitor_agent as agent

    code = (
        "import os, sys, time, memory_monitor_agent as a\n"
        "os.environ['MEMORY_MONITOR_AGENT_DIR'] = sys.argv[1]\n"
        "a.start()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(0.5); print(a.socket_path(), flush=True); os._exit(0 if a.socket_path().endswith(f'.{os.getpid()}.sock') else 1)\n"
        "_, status = os.waitpid(pid, 0); sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=30,
                         cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert out.returncode == 0, out


def test_object_count_cost_is_measured(agent):
    # The count is O(objects): the report says what it cost and how old it is.
    agent._agent.objects_interval = 3600
    count, _, seconds = agent._agent.object_count(refresh=True)
    assert seconds > 0
    _, report = request("/report")
    assert report["gc"]["objects_count_seconds"] == round(seconds, 6)


# ---- allocation sites (tracemalloc) ----------------------------------------------------------

leaked = []


def leak_steadily(n):
    for _ in range(n):
        leaked.append(bytearray(1000))  # the leaking line


def leak_two_calls_deep(n):
    leak_steadily(n)


def test_a_profile_names_the_leaking_line_and_its_caller(agent):
    import tracemalloc

    assert not tracemalloc.is_tracing()
    static = [bytearray(1000) for _ in range(2000)]  # large, made before the profile: not growth
    status, start = request("/actions/profile_start", "POST", {"depth": 8})
    assert status == 200 and start["started_tracing"] is True
    churn = []
    for i in range(50):
        leak_two_calls_deep(100)
        churn = [bytearray(500) for _ in range(100)]  # allocated and freed each round
    del churn
    status, result = request("/actions/profile_stop", "POST", {"top": 5})
    assert status == 200, result
    top = result["sites"][0]
    assert top["function"] == "leak_steadily", top
    assert top["file"].endswith("test_agent.py")
    line = [n for n, text in enumerate(open(__file__), 1) if "# the leaking line" in text and "append" in text][0]
    assert top["line"] == line
    assert top["size_diff_bytes"] >= 5000 * 1000
    assert top["share_of_growth"] >= 0.7, result["sites"]
    assert any("leak_two_calls_deep" in frame for frame in top["traceback"]), top["traceback"]
    assert result["stopped_tracing"] is True and not tracemalloc.is_tracing()
    assert result["tracemalloc_bytes"] > 0 and result["snapshot_seconds"] > 0
    # A second stop without a start is a client error.
    assert request("/actions/profile_stop", "POST", {})[0] == 400
    del static
    leaked.clear()


def test_a_profile_leaves_tracing_it_did_not_start(agent):
    import tracemalloc

    tracemalloc.start(4)
    try:
        status, start = request("/actions/profile_start", "POST", {})
        assert start["started_tracing"] is False
        status, result = request("/actions/profile_stop", "POST", {})
        assert status == 200 and result["stopped_tracing"] is False and tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_tracing_from_start_is_kept_by_a_profile_and_stopped_on_request(agent):
    import tracemalloc

    status, answer = request("/actions/tracemalloc", "POST", {"enable": True, "depth": 4})
    assert status == 200 and answer["tracing"] is True and answer["traceback_limit"] == 4
    try:
        status, start = request("/actions/profile_start", "POST", {})
        assert start["started_tracing"] is False
        status, result = request("/actions/profile_stop", "POST", {})
        assert result["stopped_tracing"] is False and tracemalloc.is_tracing()
        assert request("/report")[1]["tracemalloc"]["started_by_agent"] is True
    finally:
        status, answer = request("/actions/tracemalloc", "POST", {"enable": False})
    assert answer["tracing"] is False and not tracemalloc.is_tracing()


def test_a_file_that_is_not_a_socket_is_never_removed(tmp_path):
    target = tmp_path / "not-a-socket.sock"
    target.write_text("keep me")
    out = subprocess.run([sys.executable, "-c", "import memory_monitor_agent as a, sys; a.start(path=sys.argv[1])", str(target)],
                         capture_output=True, text=True, timeout=30, cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert out.returncode != 0 and "not a socket" in out.stderr
    assert target.read_text() == "keep me"


def test_the_tracemalloc_variable_starts_tracing_at_start(tmp_path):
    # `MEMORY_MONITOR_TRACEMALLOC=1` starts tracemalloc at start(); unset (or 0), it does not.
    code = (
        "import sys, tracemalloc, memory_monitor_agent as a\n"
        "import os; os.environ['MEMORY_MONITOR_AGENT_DIR'] = sys.argv[1]\n"
        "before = tracemalloc.is_tracing()\n"
        "a.start()\n"
        "print(before, tracemalloc.is_tracing(), flush=True)\n"
        "a.stop()\n"
    )
    results = {}
    for value in ("1", "0", None):
        env = {k: v for k, v in os.environ.items() if k != "MEMORY_MONITOR_TRACEMALLOC"}
        if value is not None:
            env["MEMORY_MONITOR_TRACEMALLOC"] = value
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=30, env=env,
                             cwd=os.path.join(os.path.dirname(__file__), ".."))
        assert out.returncode == 0, out
        results[value] = out.stdout.split()
    assert results == {"1": ["False", "True"], "0": ["False", "False"], None: ["False", "False"]}
