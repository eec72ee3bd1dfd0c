"""A stand-in server for test_harness.py: answers GET /healthz, and on
SIGTERM writes what its config says to stderr and exits with its status.
It lets the harness prove that its teardown checks can fail."""
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    cfg = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
    host, port = cfg["http"]["listen"].rsplit(":", 1)
    srv = HTTPServer((host, int(port)), Handler)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    done.wait()
    sys.stderr.write(cfg.get("say_at_exit", ""))
    sys.stderr.flush()
    if cfg.get("hang"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        threading.Event().wait(60)
    sys.exit(cfg.get("exit", 0))


if __name__ == "__main__":
    main()
