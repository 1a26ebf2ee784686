"""Snapshots (GET /_cluster/snapshot) and bootstrap from a peer, on real nodes
and the real broker: a node joins a cluster of 200,000 events from a peer's
copy while writes go on; a node whose offsets were trimmed off the log heals
itself with bootstrap.when_behind and exits 1 without it; snapshots that are
garbage, truncated, of another topic or with a wrong digest are refused and
never served; a snapshot taken under write load is intact and writes go on."""

import base64
import hashlib
import http.server
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest

from harness import BUILD_DIR, Cluster, Node, free_port, wait_converged, wait_until

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
DELETE_RECORDS = BUILD_DIR / "bin" / "clusterlite-delete-records"
TS = "2026-12-01T00:00:00Z"


def produce_users(cluster: Cluster, rows: int, updates_per_row: int, tag: str, pad: int = 0) -> int:
    """Writes `rows` INSERT events, then `updates_per_row` rounds of UPDATEs of
    the same rows, straight to the topic with kcat (as any producer of the
    documented wire format may). Returns the number of events."""
    assert KCAT, "kcat is not installed: run ./scripts/deps"
    ids = [str(uuid.uuid4()) for _ in range(rows)]
    lines = []
    for rnd in range(updates_per_row + 1):
        op = "INSERT" if rnd == 0 else "UPDATE"
        for i, entity in enumerate(ids):
            ev = {"id": str(uuid.uuid4()), "operation": op, "table_name": "users",
                  "data": {"id": entity, "name": f"{tag} {i} r{rnd}" + "x" * pad, "email": f"{tag}-{i}@snap.example"},
                  "timestamp": TS}
            lines.append("users|" + json.dumps(ev, separators=(",", ":")) + "\n")
    kcat = subprocess.run([KCAT, "-P", "-b", cluster.brokers, "-t", cluster.topic, "-K", "|",
                           "-X", "topic.partitioner=murmur2_random", "-X", "linger.ms=20",
                           "-X", "batch.num.messages=10000"],
                          input="".join(lines).encode(), capture_output=True, timeout=120)
    assert kcat.returncode == 0, kcat.stderr
    return len(lines)


def applied_total(node: Node) -> int:
    return sum(p["applied_offset"] for p in node.status()["partitions"])


class Writers:
    """Threads that create users through the given nodes until stopped,
    counting the writes the log took (201, or 202 when the node's apply took
    longer than http.write_timeout_ms), those whose outcome is unknown (504:
    the broker did not confirm in time, on a busy machine) and the failures
    by kind."""

    def __init__(self, nodes: list[Node], threads: int = 4):
        self.nodes = list(nodes)
        self.ok = 0
        self.failed = 0
        self.unknown = 0
        self.failures: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, i: int) -> None:
        n = 0
        while not self.stopping.is_set():
            node = self.nodes[(i + n) % len(self.nodes)]
            tag = f"w{i}-{n}-{uuid.uuid4().hex[:6]}"
            try:
                r = node.create_user(tag, f"{tag}@writers.example")
                outcome = str(r.status) if r.status not in (201, 202) else ""
            except OSError as e:
                outcome = type(e).__name__
            with self.lock:
                if not outcome:
                    self.ok += 1
                elif outcome == "504":
                    self.unknown += 1
                else:
                    self.failed += 1
                    self.failures[outcome] = self.failures.get(outcome, 0) + 1
            n += 1

    def count(self) -> int:
        with self.lock:
            return self.ok

    def __enter__(self) -> "Writers":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)


def fetch_snapshot(node: Node) -> tuple[bytes, dict]:
    with urllib.request.urlopen(node.url + "/_cluster/snapshot", timeout=60) as r:
        return r.read(), {k.lower(): v for k, v in r.headers.items()}


def repr_digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def integrity(path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def deleted_snapshot_files(node: Node) -> list[str]:
    """Snapshot files the node process still holds open (they are unlinked at once)."""
    held = []
    fd_dir = f"/proc/{node.proc.pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if ".snapshot-" in target:
            held.append(target)
    return held


def test_new_node_bootstraps_from_a_peer_while_writes_continue(cluster: Cluster):
    nodes = cluster.start(3).nodes
    events = produce_users(cluster, rows=20000, updates_per_row=9, tag="boot")
    assert events == 200000
    wait_until(lambda: all(applied_total(n) >= events for n in nodes), 120, "200,000 events applied everywhere",
               interval=0.5)

    with Writers(nodes) as writers:
        wait_until(lambda: writers.count() >= 20, 30, "writes to start")
        fourth = cluster.add_node(start=False, extra={"bootstrap": {"peers": [nodes[0].url]}})
        fourth.start(timeout=60)
        written_when_started = writers.count()
        origin = fourth.status()["data_origin"]
        # Writes go on once the fourth node serves.
        wait_until(lambda: writers.count() >= written_when_started + 50, 30, "writes after the bootstrap")
    assert writers.failed == 0, f"writes failed during the bootstrap: {writers.failures}"

    assert origin["source"] == "snapshot", origin
    assert origin["peer"] == nodes[0].url and origin["topic"] == cluster.topic
    assert origin["reason"] == "empty database"
    snapshot_events = sum(origin["offsets"].values())
    assert snapshot_events >= events, origin

    summary = wait_converged(cluster.nodes, timeout=120)
    assert 20000 + writers.ok <= summary["rows"] <= 20000 + writers.ok + writers.unknown
    status = fourth.status()
    log_end = sum(p["log_end"] for p in status["partitions"])
    # The fourth node applied exactly the events after its snapshot, not the 200,000 before.
    assert status["events_applied"] == log_end - snapshot_events, (status, origin)
    assert status["events_applied"] < events / 10
    assert "fetched and checked the snapshot of " + nodes[0].url in fourth.log_path.read_text()
    assert "sent a snapshot of" in nodes[0].log_path.read_text()
    assert all(n.status()["events_rejected"] == 0 for n in cluster.nodes)


def test_trimmed_log_heals_with_when_behind_and_stops_the_node_without(cluster: Cluster):
    assert DELETE_RECORDS.exists(), f"{DELETE_RECORDS} is not built"
    first, second = cluster.start(2).nodes
    for i in range(20):
        assert first.create_user(f"Before {i}", f"before{i}@trim.example").status == 201
    wait_converged([first, second])
    assert second.stop() == 0
    for i in range(20):
        assert first.create_user(f"After {i}", f"after{i}@trim.example").status == 201
    wait_until(lambda: applied_total(first) == 40, 10, "the first node to apply its writes")
    trim = subprocess.run([str(DELETE_RECORDS), cluster.brokers, cluster.topic], capture_output=True, text=True,
                          timeout=60)
    assert trim.returncode == 0, trim.stderr
    assert "log starts at 40" in trim.stdout, trim.stdout

    # Without bootstrap.when_behind: exit 1, saying which events are gone.
    second.start(wait=False)
    assert second.proc.wait(timeout=30) == 1
    assert "is no longer in the log" in second.log_tail(5), second.log_tail(5)

    # An empty node whose only peer answers nothing cannot replay a trimmed log: exit 1 naming both.
    dead = f"http://127.0.0.1:{free_port()}"
    third = cluster.add_node(start=False, extra={"bootstrap": {"peers": [dead]}})
    third.start(wait=False)
    assert third.proc.wait(timeout=30) == 1
    tail = third.log_tail(5)
    assert "no longer holds the events this node needs (partition" in tail and dead in tail, tail

    # With it: the node copies the first node's snapshot and serves again.
    second.extra = {"bootstrap": {"peers": [first.url], "when_behind": True}}
    second.write_config()
    second.start()
    origin = second.status()["data_origin"]
    assert origin["source"] == "snapshot" and origin["reason"] == "behind the log", origin
    summary = wait_converged([first, second])
    assert summary["rows"] == 40


class HostilePeer:
    """A peer that passes /readyz and answers GET /_cluster/snapshot with
    whatever bytes and headers it is given; `truncate_to` sends only that
    many bytes of the body and closes the connection."""

    def __init__(self, body: bytes, headers: dict, truncate_to: int | None = None, stall_s: float = 0):
        peer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/readyz":
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                peer.served += 1
                if stall_s:
                    time.sleep(stall_s)  # a peer that takes the request and answers nothing
                    return
                self.send_response(200)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if truncate_to is None else body[:truncate_to])
                self.wfile.flush()
                self.close_connection = True

        self.served = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a stalled answer does not hold up server_close()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HostilePeer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_bad_snapshots_are_refused_and_never_served(cluster: Cluster, tmp_path):
    first = cluster.start(1).nodes[0]
    for i in range(30):
        assert first.create_user(f"Real {i}", f"real{i}@hostile.example").status == 201
    good, headers = fetch_snapshot(first)
    assert headers["repr-digest"] == repr_digest(good)
    real_headers = {"Content-Type": "application/vnd.sqlite3", "Repr-Digest": headers["repr-digest"],
                    "ClusterLite-Snapshot-Topic": cluster.topic,
                    "ClusterLite-Snapshot-Offsets": headers["clusterlite-snapshot-offsets"]}

    def doctored(topic: str | None) -> bytes:
        """The good snapshot with a row no real node has (and, given a topic, another topic's offsets)."""
        path = tmp_path / f"doctored-{uuid.uuid4().hex}.db"
        path.write_bytes(good)
        db = sqlite3.connect(path)
        cols = [c[1] for c in db.execute("PRAGMA table_info(users)")]
        override = {"id": "?", "name": "'Mallory'", "email": "'mallory@hostile.example'"}
        db.execute(f"INSERT INTO users ({','.join(cols)}) SELECT {','.join(override.get(c, c) for c in cols)} "
                   "FROM users LIMIT 1", [str(uuid.uuid4())])
        if topic:
            db.execute("UPDATE _cl_offsets SET topic = ?", [topic])
        db.commit()
        db.close()
        return path.read_bytes()

    garbage = random.Random(7).randbytes(len(good))
    other_topic = doctored("some_other_topic")
    tampered = doctored(None)
    # (name, body, headers, bytes sent, seconds of silence, the reason logged)
    cases = [
        ("garbage", garbage, {**real_headers, "Repr-Digest": repr_digest(garbage)}, None, 0,
         "refused the snapshot of {url}: the file is not a usable database"),
        ("truncated", good, real_headers, len(good) // 2, 0, "refused the snapshot of {url}: the download is truncated"),
        ("another topic", other_topic, {**real_headers, "Repr-Digest": repr_digest(other_topic)}, None, 0,
         "refused the snapshot of {url}: its rows were applied from topic 'some_other_topic'"),
        ("digest mismatch", tampered, real_headers, None, 0,
         "refused the snapshot of {url}: its SHA-256 differs from the Repr-Digest"),
        ("silence", good, real_headers, None, 20, "no snapshot from {url}: no answer within the time allowed"),
    ]
    for name, body, hdrs, truncate_to, stall_s, reason in cases:
        with HostilePeer(body, hdrs, truncate_to, stall_s) as peer:
            node = cluster.add_node(start=False, extra={"bootstrap": {"peers": [peer.url], "timeout_ms": 2000}})
            node.start()
            assert peer.served == 1, name
            lines = [l for l in node.log_path.read_text().splitlines()
                     if "refused the snapshot" in l or "no snapshot from" in l]
            assert len(lines) == 1 and reason.format(url=peer.url) in lines[0], (name, lines)
            # The log still starts at offset 0: the node replays it, and serves only real rows.
            assert node.status()["data_origin"] == {"source": "log"}, name
            wait_converged([first, node])
            assert not [u for u in node.all_users() if u["name"] == "Mallory"], name
            assert not list(node.db_path.parent.glob("*.tmp")), name
            node.stop()


def test_snapshot_under_write_load_is_intact_and_limited(cluster: Cluster, tmp_path):
    first = cluster.start(1).nodes[0]
    # About 20 MB of rows, more than the sockets of two stalled clients hold.
    produce_users(cluster, rows=50000, updates_per_row=0, tag="load", pad=180)
    wait_until(lambda: applied_total(first) >= 50000, 60, "50,000 events applied", interval=0.2)

    with Writers([first]) as writers:
        wait_until(lambda: writers.count() >= 20, 30, "writes to start")
        before = writers.count()
        started = time.monotonic()
        taken = 0
        # Snapshots back to back for at least 2 s: every one is checked below (the last one in full).
        while taken == 0 or time.monotonic() - started < 2:
            body, headers = fetch_snapshot(first)
            assert headers["repr-digest"] == repr_digest(body)
            taken += 1
        took = time.monotonic() - started
        during = writers.count() - before
    assert writers.failed == 0, writers.failures
    # Writes were answered while the copies were taken and sent.
    assert during > 0, f"no write was answered during {taken} snapshots in {took:.2f} s"
    assert headers["content-type"] == "application/vnd.sqlite3"
    assert int(headers["content-length"]) == len(body) > 10_000_000
    assert headers["repr-digest"] == repr_digest(body)
    path = tmp_path / "snapshot.db"
    path.write_bytes(body)
    assert integrity(path) == "ok"
    db = sqlite3.connect(path)
    topics = db.execute("SELECT DISTINCT topic FROM _cl_offsets").fetchall()
    offsets = ",".join(f"{p}:{o}" for p, o in db.execute(
        "SELECT partition, next_offset FROM _cl_offsets ORDER BY partition"))
    rows = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    db.close()
    assert topics == [(cluster.topic,)]
    assert headers["clusterlite-snapshot-offsets"] == offsets
    assert rows >= 50000 + before

    # Two clients that take nothing hold both snapshot slots: a third is 503 with Retry-After.
    stalled = []
    for _ in range(2):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", first.port))
        s.sendall(b"GET /_cluster/snapshot HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(30)
        assert s.recv(64).startswith(b"HTTP/1.1 200"), "the snapshot did not start"
        stalled.append(s)
    try:
        third = first.request("GET", "/_cluster/snapshot", timeout=30)
        assert third.status == 503, third.status
        assert third.headers.get("retry-after") == "5"
        assert len(deleted_snapshot_files(first)) == 2
    finally:
        for s in stalled:
            s.close()
    # The clients went away: their copies are closed (and were never left on disk).
    wait_until(lambda: not deleted_snapshot_files(first), 10, "the snapshot files to be closed")
    assert not list(first.db_path.parent.glob("*.snapshot-*"))
    # And their slots are free again.
    wait_until(lambda: first.request("GET", "/_cluster/snapshot", timeout=60).status == 200, 10,
               "a snapshot slot to be free")


def test_bootstrap_sends_its_token_to_a_peer_that_needs_one(cluster: Cluster):
    write_token, read_token = "snapshot-write-token-0123", "snapshot-read-token-01234"
    first = cluster.add_node(extra={"auth": {"write_tokens": [write_token], "read_tokens": [read_token]}})
    headers = {"Authorization": f"Bearer {write_token}"}
    for i in range(10):
        assert first.create_user(f"Token {i}", f"token{i}@snap.example", headers=headers).status == 201

    # No token, then a read token: the peer refuses, and the node replays the log instead.
    for extra, answer in (({}, "answered 401"), ({"token": read_token}, "answered 403")):
        node = cluster.add_node(start=False, extra={"bootstrap": {"peers": [first.url], **extra}})
        node.start()
        assert node.status()["data_origin"] == {"source": "log"}
        assert answer in node.log_path.read_text(), node.log_tail(10)
        node.stop()

    node = cluster.add_node(start=False, extra={"bootstrap": {"peers": [first.url], "token": write_token}})
    node.start()
    assert node.status()["data_origin"]["source"] == "snapshot"
    wait_until(lambda: len(node.all_users()) == 10, 10, "the ten users on the bootstrapped node")


def test_a_running_node_whose_next_events_fall_off_the_log_heals_itself(cluster: Cluster):
    first = cluster.start(1).nodes[0]
    second = cluster.add_node(start=False, extra={"bootstrap": {"peers": [first.url], "when_behind": True}})
    second.start()
    for i in range(20):
        assert first.create_user(f"Before {i}", f"before{i}@running.example").status == 201
    wait_converged([first, second])
    # The second node is paused (a stalled VM) while the log moves on and is trimmed past it.
    second.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(20):
            assert first.create_user(f"After {i}", f"after{i}@running.example").status == 201
        trim = subprocess.run([str(DELETE_RECORDS), cluster.brokers, cluster.topic], capture_output=True,
                              text=True, timeout=60)
        assert trim.returncode == 0, trim.stderr
    finally:
        second.proc.send_signal(signal.SIGCONT)

    def healed():
        try:
            origin = second.status()["data_origin"]
        except (AssertionError, OSError):
            return None  # between the stop and the new start
        return origin if origin.get("reason") == "behind the log" else None
    origin = wait_until(healed, 60, "the second node to take a snapshot")
    assert second.running(), "the node restarted itself in the same process"
    assert origin["peer"] == first.url
    assert "starting the node again to take a snapshot from a peer" in second.log_path.read_text()
    summary = wait_converged([first, second])
    assert summary["rows"] == 40


def test_shared_mode_serves_snapshots_but_never_bootstraps(tmp_path, brokers, topic):
    with Cluster(tmp_path, brokers, topic, mode="shared") as shared:
        node = shared.start(1).nodes[0]
        for i in range(5):
            assert node.create_user(f"Shared {i}", f"shared{i}@snap.example").status == 201
        body, headers = fetch_snapshot(node)
        assert headers["repr-digest"] == repr_digest(body)
        path = tmp_path / "shared-backup.db"
        path.write_bytes(body)
        assert integrity(path) == "ok"
        # A shared node has nothing to copy: bootstrap.peers is refused before anything starts.
        other = shared.add_node(start=False, extra={"bootstrap": {"peers": [node.url]}})
        other.start(wait=False)
        assert other.proc.wait(timeout=30) == 2
        assert "only a replica-mode node bootstraps from a peer, not a shared-mode node" in other.log_tail(3)
