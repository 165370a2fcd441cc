"""A local HTTP receiver for alert tests: records every POST and answers as told.

Usage: http_receiver.py RECORD_FILE [PORT]
Prints "port N" once listening. POST /_mode with body ok|fail|reject|hang sets how it answers
(200, 503, 400, or no answer for 60 s). Every other POST is appended to RECORD_FILE as one JSON
line {"path", "headers", "body"} when answered with 200.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

record_path = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
state = {"mode": "ok"}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/_mode":
            state["mode"] = body.decode().strip()
            self.send_response(200)
            self.end_headers()
            return
        mode = state["mode"]
        if mode == "hang":
            time.sleep(60)
            return
        if mode == "fail":
            self.send_response(503)
            self.end_headers()
            return
        if mode == "reject":
            self.send_response(400)
            self.end_headers()
            return
        with lock:
            with open(record_path, "a") as f:
                f.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": json.loads(body or b"null")}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
print("port", server.server_address[1], flush=True)
server.serve_forever()
