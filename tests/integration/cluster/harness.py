"""Real-process harness for ClusterLite cluster tests.

Starts `clusterlite` node processes against a real Kafka broker, each with its
own temporary folder, config file and SQLite database, on free ports of
127.0.0.1, with a unique topic per test. Every process it starts is killed at
the end of the test (pytest fixtures) and, as a last resort, at interpreter
exit. All waits are bounded.

Environment:
  CLUSTERLITE_TEST_BROKERS  bootstrap servers of the broker (required)
  CLUSTERLITE_BUILD_DIR     build folder holding bin/clusterlite and plugins/
                            (default: <repo>/build)

Reusable from other test folders:

    sys.path.insert(0, str(REPO / "tests/integration/cluster"))
    from harness import *            # fixtures: brokers, topic, cluster, cluster3
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

try:
    import pytest
except ImportError:  # the harness also works without pytest (bench probes)
    pytest = None

REPO = Path(__file__).resolve().parents[3]
BUILD_DIR = Path(os.environ.get("CLUSTERLITE_BUILD_DIR") or REPO / "build").resolve()
BINARY = BUILD_DIR / "bin" / "clusterlite"
PLUGINS_DIR = BUILD_DIR / "plugins"
# examples/notes-plugin built in the tree (tests/integration/CMakeLists.txt),
# outside PLUGINS_DIR: no node loads it unless a test puts it in its directory.
EXAMPLE_PLUGINS_DIR = BUILD_DIR / "example-plugins"

_live_processes: set[subprocess.Popen] = set()


def _kill_leftovers() -> None:
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _live_processes.discard(proc)


atexit.register(_kill_leftovers)


def test_brokers() -> str:
    """The broker address from CLUSTERLITE_TEST_BROKERS; a clear failure if unset."""
    brokers = os.environ.get("CLUSTERLITE_TEST_BROKERS", "").strip()
    if not brokers:
        message = ("CLUSTERLITE_TEST_BROKERS is not set: start a broker (./scripts/kafka start) and export "
                   "CLUSTERLITE_TEST_BROKERS=127.0.0.1:9092, or run ./scripts/test")
        if pytest is not None:
            pytest.fail(message, pytrace=False)
        raise RuntimeError(message)
    return brokers


test_brokers.__test__ = False  # not a test function despite its name


def unique_topic(prefix: str = "cl_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_range(count: int, low: int = 20000, high: int = 40000) -> int:
    """A base port such that base .. base+count-1 are all free right now."""
    for base in range(low + (os.getpid() * 7) % 1000 * 10, high, 10):
        if all(port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Polls predicate until it returns a truthy value; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # a node that is restarting refuses connections
            last_error = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 15.0) -> Response:
    """One HTTP request; any status (also 4xx/5xx) comes back as a Response."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return Response(res.status, {k.lower(): v for k, v in res.headers.items()}, res.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


@dataclass
class Node:
    """One clusterlite process with its own folder, config and database."""
    name: str
    workdir: Path
    brokers: str
    topic: str
    mode: str = "replica"
    db_path: Path | None = None
    group_id: str | None = None
    port: int = 0
    extra: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.db_path is None:
            self.db_path = self.workdir / "clusterlite.db"
        if not self.port:
            self.port = free_port()
        self.config_path = self.workdir / "node.json"
        self.log_path = self.workdir / "node.log"
        self.write_config()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        kafka = {"brokers": self.brokers, "topic": self.topic}
        if self.group_id:
            kafka["group_id"] = self.group_id
        config = {
            "node_id": self.name,
            "mode": self.mode,
            "http": {"address": "127.0.0.1", "port": self.port, "threads": 2},
            "database": {"path": str(self.db_path)},
            "kafka": kafka,
            "plugins": {"directory": str(PLUGINS_DIR)},
        }
        for key, value in self.extra.items():
            config.setdefault(key, {}).update(value)
        self.config_path.write_text(json.dumps(config, indent=2))

    def start(self, wait: bool = True, timeout: float = 30.0) -> "Node":
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        if not BINARY.exists():
            raise RuntimeError(f"no node binary at {BINARY}; build first or set CLUSTERLITE_BUILD_DIR")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(BINARY), "--config", str(self.config_path)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        log.close()
        _live_processes.add(self.proc)
        if wait:
            self.wait_healthy(timeout)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_healthy(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            if not self.running():
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            return http("GET", self.url + "/healthz", timeout=2).status == 200
        try:
            wait_until(healthy, timeout, f"{self.name} /healthz")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {self.name} log ---\n{self.log_tail()}") from None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after timeout seconds. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        _live_processes.discard(self.proc)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None:
            _live_processes.discard(self.proc)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # HTTP helpers -------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, headers: dict | None = None,
                timeout: float = 15.0) -> Response:
        return http(method, self.url + path, body, headers, timeout)

    def create_user(self, name: str, email: str, headers: dict | None = None) -> Response:
        return self.request("POST", "/users", {"name": name, "email": email}, headers)

    def status(self) -> dict:
        r = self.request("GET", "/_cluster/status", timeout=5)
        assert r.status == 200, f"{self.name} /_cluster/status answered {r.status}: {r.body[:200]!r}"
        return r.json()

    def checksum(self, table: str = "users") -> dict:
        r = self.request("GET", f"/_cluster/checksum/{table}", timeout=10)
        assert r.status == 200, f"{self.name} checksum answered {r.status}: {r.body[:200]!r}"
        return r.json()

    def all_users(self) -> list[dict]:
        users: list[dict] = []
        after = ""
        for _ in range(100000):
            r = self.request("GET", "/users?limit=1000" + (f"&after={after}" if after else ""))
            assert r.status == 200, r.body
            page = r.json()
            users.extend(page)
            if len(page) < 1000:
                return users
            after = page[-1]["id"]
        raise AssertionError("too many pages")

    # Direct SQLite access (read-only; WAL lets it run beside the node) ---
    def query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql, tuple(params)).fetchall()
        finally:
            db.close()


def caught_up(status: dict) -> dict[int, int] | None:
    """The per-partition log end if this node has applied all of it, else None."""
    ends = {}
    for p in status["partitions"]:
        if "log_end" not in p or p["applied_offset"] != p["log_end"]:
            return None
        ends[p["partition"]] = p["log_end"]
    return ends or None


def wait_converged(nodes: list[Node], timeout: float = 60.0, table: str = "users") -> dict:
    """Waits until every node has applied the same, complete log (same log end,
    applied offsets equal to it) and all checksums of `table` agree; returns
    the common checksum document."""
    def converged():
        ends = [caught_up(n.status()) for n in nodes]
        if any(e is None for e in ends) or any(e != ends[0] for e in ends):
            return None
        sums = [n.checksum(table) for n in nodes]
        if any(s["checksum"] != sums[0]["checksum"] or s["rows"] != sums[0]["rows"] for s in sums):
            return None
        # The log may have grown between the two reads: confirm it did not.
        if [caught_up(n.status()) for n in nodes] != ends:
            return None
        return sums[0]
    try:
        return wait_until(converged, timeout, "the nodes to converge", interval=0.2)
    except AssertionError as e:
        detail = []
        for n in nodes:
            try:
                detail.append(f"{n.name}: {json.dumps(n.status()['partitions'])} {n.checksum(table)}")
            except Exception as err:
                detail.append(f"{n.name}: {err}")
        raise AssertionError(f"{e}\n" + "\n".join(detail)) from None


class Launcher:
    """scripts/cluster with a state folder and ports of its own: `nodes` node
    ports from `base` (and `spare_nodes` more for `add-node`), then nginx's.
    `env` is what the launcher runs with; the nodes inherit it, so
    CLUSTERLITE_* overrides in `extra_env` reach them."""

    def __init__(self, root: Path, brokers: str, topic: str, nodes: int = 3, extra_env: dict | None = None,
                 spare_nodes: int = 0):
        self.base = free_port_range(nodes + spare_nodes + 2)
        self.node_ports = [self.base + i for i in range(nodes + spare_nodes)]
        self.nginx_port = self.base + nodes + spare_nodes
        self.https_port = self.nginx_port + 1
        self.state = root / "state"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
        self.env.update({
            "CLUSTERLITE_KAFKA_BROKERS": brokers,
            "CLUSTERLITE_BUILD_DIR": str(BUILD_DIR),
            "CLUSTERLITE_CLUSTER_HTTP_PORT": str(self.nginx_port),
            "CLUSTERLITE_CLUSTER_HTTPS_PORT": str(self.https_port),
            "CLUSTERLITE_CLUSTER_NODE_PORT_BASE": str(self.base),
            "CLUSTERLITE_CLUSTER_STATE": str(self.state),
            "CLUSTERLITE_CLUSTER_TOPIC": topic,
            **(extra_env or {}),
        })

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([str(REPO / "scripts" / "cluster"), *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)

    def node_url(self, i: int) -> str:
        """Node i's own address (1-based, as the launcher names them)."""
        return f"http://127.0.0.1:{self.node_ports[i - 1]}"

    @property
    def nginx_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def plugins_dir(self, i: int) -> Path:
        """The plugins directory node i loads from."""
        return self.state / f"node-{i}" / "plugins"


class Cluster:
    """A set of nodes sharing a broker and a topic; stops them all on close()."""

    def __init__(self, root: Path, brokers: str, topic: str, mode: str = "replica"):
        self.root = root
        self.brokers = brokers
        self.topic = topic
        self.mode = mode
        self.nodes: list[Node] = []
        self.shared_db = root / "shared" / "clusterlite.db" if mode == "shared" else None
        self.group_id = f"{topic}_group" if mode == "shared" else None
        if self.shared_db:
            self.shared_db.parent.mkdir(parents=True, exist_ok=True)

    def add_node(self, start: bool = True, **kwargs) -> Node:
        name = f"node-{len(self.nodes) + 1}"
        node = Node(name=name, workdir=self.root / name, brokers=self.brokers, topic=self.topic,
                    mode=self.mode, db_path=self.shared_db, group_id=self.group_id, **kwargs)
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def start(self, count: int) -> "Cluster":
        # The first node creates the topic; start it alone so the others find it.
        for i in range(count):
            node = self.add_node(start=False)
            node.start(wait=(i == 0))
        for node in self.nodes:
            node.wait_healthy()
        return self

    def running_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.running()]

    def close(self) -> None:
        for node in self.nodes:
            if node.running():
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop(timeout=15)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if pytest is not None:
    @pytest.fixture
    def brokers() -> str:
        return test_brokers()

    @pytest.fixture
    def topic() -> str:
        return unique_topic()

    @pytest.fixture
    def cluster(tmp_path, brokers, topic):
        """An empty replica-mode Cluster on a unique topic; add nodes with start(n) or add_node()."""
        c = Cluster(tmp_path, brokers, topic)
        try:
            yield c
        finally:
            c.close()

    @pytest.fixture
    def cluster3(cluster):
        """Three running replica-mode nodes on a unique topic."""
        return cluster.start(3)

__all__ = [
    "REPO", "BUILD_DIR", "BINARY", "PLUGINS_DIR", "EXAMPLE_PLUGINS_DIR", "Response", "Node", "Cluster", "Launcher",
    "http", "wait_until", "wait_converged",
    "caught_up", "free_port", "free_port_range", "port_is_free", "unique_topic", "test_brokers",
    "brokers", "topic", "cluster", "cluster3",
]
