import json
import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def request(path, method="GET", body=None, sock_path=None, timeout=10):
    """One HTTP/1.1 request over the agent's Unix socket; returns (status, JSON)."""
    import memory_monitor_agent as agent

    data = json.dumps(body).encode() if body is not None else b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path or agent.socket_path())
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: agent\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        raw = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            raw += chunk
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(payload)


@pytest.fixture
def agent():
    import shutil
    import tempfile

    import memory_monitor_agent as agent

    # Not pytest's tmp_path: its parent is private to root, and one test connects as another uid.
    directory = tempfile.mkdtemp(prefix="mm-agent-")
    os.chmod(directory, 0o755)

    agent.stop()
    agent._agent.registry.__init__()
    agent._agent.gate.__init__()
    agent.start(path=os.path.join(directory, "agent.sock"), objects_interval=0)
    yield agent
    agent.stop()
    shutil.rmtree(directory, ignore_errors=True)
