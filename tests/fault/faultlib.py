"""Helpers shared by the fault tests: concurrent writers, raw HTTP, log reads,
and a private Kafka broker that a test may stop and start.

The node harness (real `clusterlite` processes on free ports, one topic per
test) lives in tests/integration/cluster/harness.py and is reused here.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness import REPO, Node, free_port, wait_until

KAFKA_SCRIPT = REPO / "scripts" / "kafka"


@dataclass
class WriteResult:
    node: str
    email: str
    status: int | None        # None: no HTTP answer (connection refused, reset, timeout)
    error: str | None
    started: float            # time.monotonic() when the request was sent
    elapsed: float
    user_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post_user(node: Node, name: str, email: str, timeout: float = 30.0) -> WriteResult:
    """POST /users on a fresh connection; a transport failure is a result, not an exception."""
    body = json.dumps({"name": name, "email": email}).encode()
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=timeout)
    try:
        conn.request("POST", "/users", body=body, headers={"Content-Type": "application/json",
                                                           "Connection": "close"})
        res = conn.getresponse()
        payload = res.read()
        user_id = None
        if res.status in (200, 201):
            user_id = json.loads(payload)["id"]
        elif res.status == 202:
            # Accepted into the log, not yet applied here: the id is in Location.
            loc = res.getheader("Location") or ""
            user_id = loc.rsplit("/", 1)[-1] or None
        return WriteResult(node.name, email, res.status, None, start, time.monotonic() - start, user_id)
    except (OSError, http.client.HTTPException) as e:
        return WriteResult(node.name, email, None, f"{type(e).__name__}: {e}", start, time.monotonic() - start)
    finally:
        conn.close()


class Writers:
    """Several threads creating users through a list of nodes, round robin,
    until `total` writes were made or stop() is called."""

    def __init__(self, nodes: list[Node], threads: int, total: int | None = None, tag: str = "w",
                 pause: float = 0.0):
        self.nodes = nodes
        self.total = total
        self.tag = tag
        self.pause = pause
        self.results: list[WriteResult] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._count = 0
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _next(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or (self.total is not None and self._count >= self.total):
                return None
            self._count += 1
            return self._count

    def _run(self, worker: int) -> None:
        while (n := self._next()) is not None:
            node = self.nodes[(n + worker) % len(self.nodes)]
            email = f"{self.tag}-{n}-{uuid.uuid4().hex[:10]}@example.org"
            res = post_user(node, f"{self.tag} writer {n}", email)
            with self._lock:
                self.results.append(res)
            if self.pause:
                time.sleep(self.pause)

    def start(self) -> "Writers":
        for t in self._threads:
            t.start()
        return self

    def done_count(self) -> int:
        with self._lock:
            return len(self.results)

    def wait_count(self, n: int, timeout: float) -> None:
        wait_until(lambda: self.done_count() >= n, timeout, f"{n} writes to finish")

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 120.0) -> list[WriteResult]:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "writer threads did not finish in time"
        return list(self.results)


def acknowledged(results: list[WriteResult]) -> list[WriteResult]:
    return [r for r in results if r.ok]


# --- The log, read with kcat ---------------------------------------------------

def read_log(brokers: str, topic: str, timeout: float = 60.0) -> list[dict]:
    """Every record of the topic as {"partition", "offset", "key", "value"} (value as bytes)."""
    out = subprocess.run(
        ["kcat", "-C", "-b", brokers, "-t", topic, "-e", "-q", "-o", "beginning",
         "-f", "%p %o %k %S\n%s\n"],  # %S: value size, so binary values can be split safely
        capture_output=True, timeout=timeout, check=True).stdout
    records = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        head = out[pos:nl].split(b" ")
        partition, offset, size = int(head[0]), int(head[1]), int(head[-1])
        key = b" ".join(head[2:-1]).decode(errors="replace")
        value = out[nl + 1:nl + 1 + max(size, 0)]
        pos = nl + 1 + max(size, 0) + 1
        records.append({"partition": partition, "offset": offset, "key": key, "value": value})
    return records


def produce(brokers: str, topic: str, key: str, values: list[bytes], partition: int | None = None,
            workdir: Path | None = None) -> None:
    """Appends each value as one record (one file per record, so any bytes work)."""
    import tempfile
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        files = []
        for i, v in enumerate(values):
            f = Path(d) / f"record-{i:04d}"
            f.write_bytes(v)
            files.append(str(f))
        cmd = ["kcat", "-P", "-b", brokers, "-t", topic, "-k", key, "-X", "partitioner=murmur2_random"]
        if partition is not None:
            cmd += ["-p", str(partition)]
        # One kcat per record keeps the log order equal to the list order.
        for f in files:
            subprocess.run(cmd + [f], check=True, timeout=30, capture_output=True)


def log_ends(brokers: str, topic: str) -> dict[int, int]:
    """Partition -> next offset (high watermark), from kcat's metadata + query."""
    meta = json.loads(subprocess.run(["kcat", "-L", "-J", "-b", brokers, "-t", topic], capture_output=True,
                                     timeout=30, check=True).stdout)
    parts = [p["partition"] for t in meta["topics"] if t["topic"] == topic for p in t["partitions"]]
    ends = {}
    for p in parts:
        out = subprocess.run(["kcat", "-Q", "-b", brokers, "-t", f"{topic}:{p}:-1"], capture_output=True,
                             timeout=30, check=True, text=True).stdout
        # "<topic> [<p>] offset <n>"
        ends[p] = int(out.strip().split()[-1])
    return ends


# --- Raw HTTP for requests no ordinary client would send ------------------------

@dataclass
class RawAnswer:
    status: int | None      # None: the connection closed without an HTTP answer
    head: bytes = b""
    body: bytes = b""
    error: str | None = None


def raw_request(port: int, data: bytes, timeout: float = 15.0) -> RawAnswer:
    """Sends `data` as-is on a new connection and reads one HTTP answer (or the close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError as e:  # the node may refuse and close while we still send
            return _read_answer(s, error=f"send: {e}")
        return _read_answer(s)
    finally:
        s.close()


def _read_answer(s: socket.socket, error: str | None = None) -> RawAnswer:
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        if b"\r\n\r\n" not in buf:
            return RawAnswer(None, buf, b"", error or "closed without an answer")
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return RawAnswer(status, head, rest, error)
    except (OSError, ValueError, IndexError) as e:
        return RawAnswer(None, buf, b"", f"{error or ''} recv: {type(e).__name__}: {e}".strip())


# --- A private broker ----------------------------------------------------------

class PrivateKafka:
    """An Apache Kafka broker of this test alone (scripts/kafka with its own
    ports and state folder), so the test may stop and start it."""

    def __init__(self, state: Path):
        self.state = state
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.brokers = f"127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "CLUSTERLITE_KAFKA_BROKERS"}
        env.update(CLUSTERLITE_KAFKA_PORT=str(self.port), CLUSTERLITE_KAFKA_CONTROLLER_PORT=str(self.controller_port),
                   CLUSTERLITE_KAFKA_STATE=str(state), CLUSTERLITE_KAFKA_START_TIMEOUT="90")
        self.env = env

    def _run(self, action: str, timeout: float) -> None:
        res = subprocess.run([str(KAFKA_SCRIPT), action], env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(f"scripts/kafka {action} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")

    def start(self) -> None:
        self._run("start", 150)

    def stop(self) -> None:
        self._run("stop", 60)

    def pid(self) -> int | None:
        try:
            return int((self.state / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None
