"""GET /_changes (the change stream, docs/design.md): a write through any node
appears on a stream opened through nginx; a stream resumed with
Last-Event-ID gets exactly the changes after it; a position the node no
longer holds gets `event: reset`; the bounds hold (a stream over
changes.max_subscribers is refused, a client that does not read is
disconnected); 500 streams on one node all get every change."""
from __future__ import annotations

import json
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from harness import Cluster, Launcher, http, wait_until


@dataclass
class Stream:
    """One GET /_changes over a raw socket, read as Server-Sent Events."""
    host: str
    port: int
    path: str
    headers: dict = field(default_factory=dict)
    rcvbuf: int = 0

    def __post_init__(self):
        self.sock = socket.socket()
        if self.rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        self.sock.connect((self.host, self.port))
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        self.sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode())
        self.buf = b""
        self.status = None
        self.head = {}
        self.events = []
        self.closed = False

    def _feed(self, data: bytes) -> None:
        self.buf += data
        if self.status is None:
            if b"\r\n\r\n" not in self.buf:
                return
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            self.status = int(lines[0].split()[1])
            self.head = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
            self.text = b""
        # Behind nginx the body comes in chunks: take their data out.
        if self.head.get("transfer-encoding") == "chunked":
            while b"\r\n" in self.buf:
                size_line, after = self.buf.split(b"\r\n", 1)
                size = int(size_line, 16)
                if len(after) < size + 2:
                    break
                self.text += after[:size]
                self.buf = after[size + 2:]
        else:
            self.text += self.buf
            self.buf = b""
        while b"\n\n" in self.text:
            block, self.text = self.text.split(b"\n\n", 1)
            event = {}
            for line in block.decode().split("\n"):
                if line.startswith(":") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                event[k] = v[1:] if v.startswith(" ") else v
            if "event" in event or "data" in event:
                self.events.append(event)

    def read_until(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self) and time.monotonic() < deadline and not self.closed:
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if ready:
                data = self.sock.recv(65536)
                if not data:
                    self.closed = True
                    break
                self._feed(data)

    def changes(self) -> list[dict]:
        return [e for e in self.events if e.get("event") in ("insert", "update", "delete")]

    def close(self) -> None:
        self.sock.close()


def user() -> dict:
    return {"name": "Streamed", "email": f"s-{uuid.uuid4().hex[:10]}@example.org"}


def open_stream(url: str, path: str = "/_changes?tables=users", **kw) -> Stream:
    host, port = url.removeprefix("http://").split(":")
    s = Stream(host, int(port), path, **kw)
    s.read_until(lambda s: s.status is not None)
    return s


def test_streams_through_nginx_and_resumes_after_a_position(tmp_path, brokers, topic):
    launcher = Launcher(tmp_path, brokers, topic)
    try:
        up = launcher.run("up")
        assert up.returncode == 0, up.stdout + up.stderr
        stream = open_stream(launcher.nginx_url)
        assert stream.status == 200 and stream.head["content-type"] == "text/event-stream", stream.head
        # A write through each node appears on the stream opened through nginx.
        made = []
        for i in (1, 2, 3):
            res = http("POST", launcher.node_url(i) + "/users", user())
            assert res.status == 201, res.body
            made.append(res.json()["id"])
        stream.read_until(lambda s: len(s.changes()) >= 3, 20)
        got = stream.changes()
        assert [json.loads(e["data"])["data"]["id"] for e in got] == made
        assert all(e["event"] == "insert" and json.loads(e["data"])["table"] == "users" for e in got)
        last_id = got[-1]["id"]
        stream.close()

        # Three writes while no stream is open; the resumed one gets exactly those.
        later = []
        for i in (3, 1, 2):
            res = http("POST", launcher.node_url(i) + "/users", user())
            assert res.status == 201
            later.append(res.json()["id"])
        item = later[0]
        assert http("DELETE", f"{launcher.nginx_url}/users/{item}").status == 204
        resumed = open_stream(launcher.nginx_url, headers={"Last-Event-ID": last_id})
        resumed.read_until(lambda s: len(s.changes()) >= 4, 20)
        time.sleep(0.5)
        resumed.read_until(lambda s: False, 0.5)
        got = resumed.changes()
        assert [e["event"] for e in got] == ["insert", "insert", "insert", "delete"], got
        assert [json.loads(e["data"])["data"]["id"] for e in got] == later + [item]
        resumed.close()
        # ?after= does the same for clients that cannot set headers.
        again = open_stream(launcher.nginx_url, f"/_changes?tables=users&after={last_id}")
        again.read_until(lambda s: len(s.changes()) >= 4, 20)
        assert [json.loads(e["data"])["data"]["id"] for e in again.changes()] == later + [item]
        again.close()
    finally:
        launcher.run("down", timeout=120)


def test_a_position_no_longer_held_gets_reset_and_bounds_hold(cluster: Cluster):
    node = cluster.add_node(extra={"changes": {"buffer_events": 5, "max_subscribers": 3,
                                               "max_backlog_bytes": 4096, "heartbeat_ms": 300}})
    first = open_stream(node.url)
    assert node.create_user("One", f"one-{uuid.uuid4().hex[:6]}@example.org").status == 201
    first.read_until(lambda s: len(s.changes()) >= 1)
    old = first.changes()[0]["id"]
    first.close()
    for k in range(8):  # more than the buffer holds
        assert node.create_user(f"U{k}", f"u{k}-{uuid.uuid4().hex[:6]}@example.org").status == 201
    late = open_stream(node.url, headers={"Last-Event-ID": old})
    late.read_until(lambda s: len(s.events) >= 1)
    assert late.events[0]["event"] == "reset", late.events
    assert node.create_user("After", f"after-{uuid.uuid4().hex[:6]}@example.org").status == 201
    late.read_until(lambda s: len(s.changes()) >= 1)
    assert [json.loads(e["data"])["data"]["name"] for e in late.changes()] == ["After"]
    # A malformed position, an unknown table: refused before any stream starts.
    bad = open_stream(node.url, headers={"Last-Event-ID": "not-a-position"})
    assert bad.status == 400
    assert open_stream(node.url, "/_changes?tables=nosuch").status == 404
    # Heartbeats keep an idle stream alive (a comment every heartbeat_ms).
    late.read_until(lambda s: False, 1.0)
    assert not late.closed

    # max_subscribers = 3: `late` and two more, then 503 with Retry-After.
    second, third = open_stream(node.url), open_stream(node.url)
    wait_until(lambda: "clusterlite_change_subscribers 3" in node.request("GET", "/metrics").body.decode(), 10,
               "three streams counted")
    refused = open_stream(node.url)
    assert refused.status == 503 and refused.head.get("retry-after"), refused.head
    for s in (second, third):
        s.close()

    # A client that never reads is disconnected once its backlog passes
    # max_backlog_bytes; the node goes on. (A node of its own: with a buffer of
    # 5, a burst between two rounds gives a stream resets, not changes.)
    late.close()
    other = cluster.add_node(extra={"changes": {"max_backlog_bytes": 4096}})
    stuck = Stream("127.0.0.1", other.port, "/_changes", rcvbuf=4096)
    wait_until(lambda: "clusterlite_change_subscribers 1" in other.request("GET", "/metrics").body.decode(), 10,
               "the stuck stream counted")

    # ~600 KB of changes: well past the socket buffers (the node's 32 KiB, the
    # client's 4 KiB, whatever the kernel adds on loopback) and the 4 KiB backlog.
    def write(w):
        for k in range(200):
            assert node.create_user("x" * 200, f"stuck{w}-{k}-{uuid.uuid4().hex[:6]}@example.org").status == 201
    writers = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(60)
    wait_until(lambda: "clusterlite_change_subscribers_dropped_total 1" in
               other.request("GET", "/metrics").body.decode(), 20, "the stuck stream dropped")
    assert other.request("GET", "/readyz").status == 200
    stuck.close()


def test_five_hundred_streams_get_every_change(cluster: Cluster):
    node = cluster.add_node()
    streams = [Stream("127.0.0.1", node.port, "/_changes?tables=users") for _ in range(500)]
    for s in streams:
        s.read_until(lambda s: s.status is not None)
    assert all(s.status == 200 for s in streams)
    wait_until(lambda: "clusterlite_change_subscribers 500" in node.request("GET", "/metrics").body.decode(), 20,
               "500 streams counted")
    ids = [node.create_user("Many", f"m{k}-{uuid.uuid4().hex[:6]}@example.org").json()["id"] for k in range(20)]
    deadline = time.monotonic() + 30
    by_sock = {s.sock: s for s in streams}
    while time.monotonic() < deadline and any(len(s.changes()) < 20 for s in streams):
        ready, _, _ = select.select(list(by_sock), [], [], 0.2)
        for sock in ready:
            data = sock.recv(65536)
            if data:
                by_sock[sock]._feed(data)
    for s in streams:
        assert [json.loads(e["data"])["data"]["id"] for e in s.changes()] == ids
        s.close()
