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
from collections import Counter
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


# --- A private cluster of three brokers ------------------------------------------

class PrivateKafkaCluster:
    """Apache Kafka brokers of these tests alone (scripts/kafka start --brokers N
    with private ports and state), so a test may kill, stop and restart any of
    them without disturbing the broker the other tests share. Broker i (1..N)
    serves clients on port_base + i - 1."""

    def __init__(self, state: Path, count: int = 3):
        from harness import free_port_range
        self.state = state
        self.count = count
        # Client ports, then controller ports: 2N ports in a row.
        self.port_base = free_port_range(2 * count)
        self.brokers = ",".join(f"127.0.0.1:{self.port_base + i}" for i in range(count))
        env = {k: v for k, v in os.environ.items() if k != "CLUSTERLITE_KAFKA_BROKERS"}
        env.update(CLUSTERLITE_KAFKA_STATE=str(state), CLUSTERLITE_KAFKA_START_TIMEOUT="150",
                   CLUSTERLITE_KAFKA_HEAP="320m")
        self.env = env

    def _run(self, *args: str, timeout: float) -> None:
        res = subprocess.run([str(KAFKA_SCRIPT), *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(f"scripts/kafka {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")

    def start(self) -> None:
        """Starts the brokers that do not run; returns once each answers and sees all N."""
        self._run("start", "--brokers", str(self.count), "--port-base", str(self.port_base), timeout=200)

    def stop(self) -> None:
        self._run("stop", timeout=90)

    def pid(self, broker: int) -> int | None:
        try:
            pid = int((self.state / f"broker-{broker}" / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def running(self) -> list[int]:
        return [b for b in range(1, self.count + 1) if self.pid(b)]

    def kill(self, broker: int, sig: int = 9, wait: float = 40.0) -> None:
        """Sends `sig` to broker i and waits until the process is gone."""
        pid = self.pid(broker)
        assert pid, f"broker {broker} is not running"
        os.kill(pid, sig)
        wait_until(lambda: not _alive(pid), wait, f"broker {broker} (pid {pid}) to exit")

    def partitions(self, topic: str) -> list[dict]:
        """The topic's partitions as the cluster reports them: partition, leader, replicas, isr."""
        meta = json.loads(subprocess.run(["kcat", "-L", "-J", "-b", self.brokers, "-t", topic, "-m", "5"],
                                         capture_output=True, timeout=30, check=True).stdout)
        out = []
        for t in meta["topics"]:
            if t["topic"] != topic:
                continue
            for p in t["partitions"]:
                out.append({"partition": p["partition"], "leader": p["leader"],
                            "replicas": sorted(r["id"] for r in p["replicas"]),
                            "isr": sorted(r["id"] for r in p["isrs"])})
        return sorted(out, key=lambda p: p["partition"])

    def wait_fully_replicated(self, topic: str, timeout: float = 90.0) -> None:
        """Until every partition of `topic` has a leader and all N replicas in sync."""
        full = list(range(1, self.count + 1))
        wait_until(lambda: (ps := self.partitions(topic)) and all(p["leader"] > 0 and p["isr"] == full for p in ps),
                   timeout, f"every partition of {topic} to have all {self.count} replicas in sync", interval=0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


# --- A mixed history: creates, updates and deletes --------------------------------

@dataclass
class Answer:
    kind: str               # create | update | delete
    key: str                # create: the email; update: the new name; delete: the user id
    target: str | None      # update and delete: the user id
    status: int | None      # None: no HTTP answer
    node: str
    started: float
    elapsed: float


class MixedHistory:
    """Threads that create, update and delete users through all nodes in turn,
    recording every answer. Each thread renames one user of its own and
    deletes users of its own (made by prepare()), so what each thread wrote is
    its own and the final state can be checked against the log."""

    def __init__(self, nodes: list[Node], threads: int = 6, delete_targets: int = 40, pause: float = 0.01):
        self.nodes = nodes
        self.threads = threads
        self.delete_count = delete_targets
        self.pause = pause
        self.answers: list[Answer] = []
        self.update_target: list[str] = []
        self.delete_targets: list[list[str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def prepare(self) -> None:
        def make(k: int) -> str:
            r = self.nodes[k % len(self.nodes)].create_user(f"Target {k}", f"target-{k}-{uuid.uuid4().hex[:8]}@example.org")
            assert r.status == 201, (r.status, r.body[:300])
            return r.json()["id"]
        self.update_target = [make(t) for t in range(self.threads)]
        self.delete_targets = [[make(self.threads + t * self.delete_count + k) for k in range(self.delete_count)]
                               for t in range(self.threads)]

    def _worker(self, t: int) -> None:
        from harness import http
        k = 0
        while not self._stop.is_set():
            node = self.nodes[(t + k) % len(self.nodes)]
            kind = ("create", "update", "delete")[k % 3]
            marker = f"h{t}-{k}-{uuid.uuid4().hex[:8]}"
            started = time.monotonic()
            target = None
            try:
                if kind == "create":
                    key = f"{marker}@example.org"
                    r = http("POST", node.url + "/users", {"name": "History", "email": key}, timeout=30)
                elif kind == "update":
                    target = self.update_target[t]
                    key = marker
                    r = http("PUT", f"{node.url}/users/{target}", {"name": marker, "email": f"keep-{t}@example.org"},
                             timeout=30)
                else:
                    if not self.delete_targets[t]:
                        k += 1
                        continue
                    target = key = self.delete_targets[t].pop()
                    r = http("DELETE", f"{node.url}/users/{target}", timeout=30)
                status = r.status
            except OSError:
                status = None
            with self._lock:
                self.answers.append(Answer(kind, key, target, status, node.name, started, time.monotonic() - started))
            k += 1
            if self.pause:
                time.sleep(self.pause)

    def start(self) -> "MixedHistory":
        self._workers = [threading.Thread(target=self._worker, args=(t,), daemon=True) for t in range(self.threads)]
        for w in self._workers:
            w.start()
        return self

    def stop(self, timeout: float = 90.0) -> list[Answer]:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for w in self._workers:
            w.join(max(0.1, deadline - time.monotonic()))
        assert not any(w.is_alive() for w in self._workers), "a client never got an answer"
        with self._lock:
            return list(self.answers)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def ok_since(self, t: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.started >= t and a.status in (200, 201, 204)]


def check_history_against_log(nodes: list[Node], brokers: str, topic: str, history: MixedHistory,
                              answers: list[Answer]) -> dict:
    """Holds every answer against the users table's events in the topic, read
    back with kcat, and the nodes' databases (after they converged):

    - the log holds no event twice, and every node has applied exactly the log
      (same rows on every node, a row per INSERT not deleted later);
    - 2xx: the write is in the log and its effect is on every node (a create's
      row, a delete's absence, an update in the log, the target's final name
      the last UPDATE of it in the log: nothing acknowledged was reverted);
    - 503: the write is not in the log and applied nowhere;
    - 504 (outcome unknown) may have gone either way; any other answer fails.
    Returns the count of answers per status."""
    from harness import wait_converged
    wait_converged(nodes, timeout=120)
    records = [rec for rec in read_log(brokers, topic) if rec["key"] == "users"]
    events = [json.loads(rec["value"]) for rec in records]
    ids = Counter(e["id"] for e in events)
    twice = {k: v for k, v in ids.items() if v > 1}
    assert not twice, f"events appended more than once: {list(twice.items())[:5]}"
    inserted = Counter(e["data"].get("email") for e in events if e["operation"] == "INSERT")
    assert all(v == 1 for v in inserted.values()), [k for k, v in inserted.items() if v > 1][:5]
    renamed = {e["data"].get("name") for e in events if e["operation"] == "UPDATE"}
    deleted = {e["data"].get("id") for e in events if e["operation"] == "DELETE"}
    last_name: dict[str, str] = {}
    for e in events:  # one partition holds the table: log order is this order
        if e["operation"] == "UPDATE":
            last_name[e["data"]["id"]] = e["data"]["name"]
    assert len({r["partition"] for r in records}) == 1, "the users table's events are on several partitions"

    rows = {r[0]: (r[1], r[2]) for r in nodes[0].query("SELECT id, name, email FROM users")}
    for node in nodes[1:]:
        assert {r[0]: (r[1], r[2]) for r in node.query("SELECT id, name, email FROM users")} == rows, node.name
    emails = {email for _, email in rows.values()}
    for target, name in last_name.items():
        assert rows[target][0] == name, (target, rows[target], name)

    statuses: Counter = Counter()
    wrong = []
    for a in answers:
        statuses[a.status] += 1
        in_log = a.key in (inserted if a.kind == "create" else renamed if a.kind == "update" else deleted)
        if a.status == 503:
            applied = a.key in emails if a.kind == "create" else a.kind == "delete" and a.key not in rows
            if in_log or applied:
                wrong.append(("503 but written", a))
        elif a.status in (200, 201, 202, 204):
            if not in_log:
                wrong.append(("2xx but not in the log", a))
            elif a.kind == "create" and a.key not in emails:
                wrong.append(("2xx create not applied", a))
            elif a.kind == "delete" and a.key in rows:
                wrong.append(("2xx delete but the row is there", a))
        elif a.status != 504:
            wrong.append(("unexpected answer", a))
    assert not wrong, wrong[:10]
    return dict(statuses)
