"""A table of hostile requests against one live standalone node. Each gets a
4xx (or, for abuse of the transport, a closed connection); the node stays up
and the data does not change."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid

import pytest

from faultlib import RawAnswer, raw_request
from harness import BINARY, Node, http

MAX_BODY = 64 * 1024
HEADER_TIMEOUT_S = 5  # http.header_timeout_ms, its default (core/config.h)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    n = Node(name="hostile-1", workdir=root, brokers="", topic="unused", mode="standalone",
             extra={"http": {"max_body_bytes": MAX_BODY}})
    n.start()
    try:
        for i in range(5):
            r = n.create_user(f"Seed {i}", f"seed-{i}@example.org")
            assert r.status == 201, r.body
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def seed_id(node):
    return node.all_users()[0]["id"]


def request(method: str, target: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    hdrs = {"Host": "127.0.0.1", "Connection": "close"}
    if body or method in ("POST", "PUT"):
        hdrs["Content-Length"] = str(len(body))
    hdrs.update(headers or {})
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return head.encode("latin-1") + body


def json_post(body: bytes, target: str = "/users", content_type: str = "application/json") -> bytes:
    return request("POST", target, body, {"Content-Type": content_type})


def user(name="Mallory", email="mallory@example.org") -> bytes:
    return json.dumps({"name": name, "email": email}).encode()


# name -> (raw request, whether a closed connection is an acceptable answer)
CASES: dict[str, tuple] = {
    "body over max_body_bytes": (json_post(b'{"name":"' + b"a" * (MAX_BODY + 10) + b'","email":"a@b.org"}'), False),
    "body over the whole request limit": (json_post(b'{"name":"' + b"a" * (MAX_BODY + 200 * 1024) + b'"}'), True),
    "Content-Length larger than the request limit, no body": (
        request("POST", "/users", b"", {"Content-Type": "application/json", "Content-Length": str(1 << 40)}), True),
    "deep JSON nesting (10,000 arrays)": (json_post(b'{"name":' + b"[" * 10000 + b"]" * 10000 + b"}"), False),
    "deep JSON nesting (10,000 objects)": (json_post(b'{"a":' * 10000 + b"1" + b"}" * 10000), False),
    "invalid UTF-8 in a field": (json_post(b'{"name":"\xff\xfe\xc3","email":"u@example.org"}'), False),
    "lone surrogate escape": (json_post(b'{"name":"\\ud800","email":"s@example.org"}'), False),
    "invalid UTF-8 in a key": (json_post(b'{"\xc3\x28":"x","name":"n","email":"k@example.org"}'), False),
    "escaped control character in name": (json_post(user(name="bad\u0001name")), False),
    "raw control character in name": (json_post(b'{"name":"bad\x01name","email":"c@example.org"}'), False),
    "newline in email": (json_post(user(email="a@example.org\r\nX-Injected: 1")), False),
    "NUL in name": (json_post(user(name="nul\u0000name")), False),
    "100 KB header": (request("GET", "/users", headers={"X-Big": "a" * 100_000}), True),
    "many headers": (request("GET", "/users", headers={f"X-H{i}": "v" * 100 for i in range(2000)}), True),
    "PATCH /users/{id}": (request("PATCH", "/users/{seed}", user(), {"Content-Type": "application/json"}), True),
    "PATCH /users": (request("PATCH", "/users", user(), {"Content-Type": "application/json"}), True),
    "TRACE /users": (request("TRACE", "/users"), True),
    "BREW /users": (request("BREW", "/users"), True),
    "BREW /users/{id}": (request("BREW", "/users/{seed}"), True),
    "QUERY /users with a body": (request("QUERY", "/users", user(), {"Content-Type": "application/json"}), False),
    "Cookie without name=value": (request("GET", "/users", headers={"Cookie": "abc"}), False),
    "Cookie with a bare name among pairs": (request("POST", "/users", user(), {"Content-Type": "application/json",
                                                                            "Cookie": "a=b; c"}), False),
    "DELETE /users (collection)": (request("DELETE", "/users"), False),
    "PUT /users (collection)": (request("PUT", "/users", user(), {"Content-Type": "application/json"}), False),
    "POST /users/{id}": (json_post(user(), "/users/{seed}"), False),
    "GET /users/..": (request("GET", "/users/.."), False),
    "DELETE /users/..": (request("DELETE", "/users/.."), False),
    "GET /users/%2e%2e": (request("GET", "/users/%2e%2e"), False),
    "DELETE /users/%2e%2e": (request("DELETE", "/users/%2e%2e"), False),
    "GET /users/../users": (request("GET", "/users/../users"), False),
    "GET /users/a%2Fb": (request("GET", "/users/a%2Fb"), False),
    "DELETE /users/a%2Fb": (request("DELETE", "/users/a%2Fb"), False),
    "GET /users/%00": (request("GET", "/users/%00"), False),
    "DELETE /users/%00": (request("DELETE", "/users/%00"), False),
    "GET /users/{id}%00": (request("GET", "/users/{seed}%00"), False),
    "GET /users/%zz": (request("GET", "/users/%zz"), False),
    "GET //users": (request("GET", "//users"), False),
    "POST //users": (json_post(user(), "//users"), False),
    "GET /users/": (request("GET", "/users/"), False),
    "DELETE /users/": (request("DELETE", "/users/"), False),
    "GET /users/{id}/": (request("GET", "/users/{seed}/"), False),
    "GET /%2e%2e/users": (request("GET", "/%2e%2e/users"), False),
    "GET /_cl_offsets": (request("GET", "/_cl_offsets"), False),
    "GET /sqlite_master": (request("GET", "/sqlite_master"), False),
    "GET /_cluster/checksum/_cl_rejected": (request("GET", "/_cluster/checksum/_cl_rejected"), False),
    "GET /_cluster/checksum/users;DROP": (request("GET", "/_cluster/checksum/users%3BDROP%20TABLE%20users"), False),
    "GET /ui/../../etc/passwd": (request("GET", "/ui/../../etc/passwd"), False),
    "GET /ui/%2e%2e/%2e%2e/etc/passwd": (request("GET", "/ui/%2e%2e/%2e%2e/etc/passwd"), False),
    "SQL in id: ' OR 1=1 --": (request("GET", "/users/%27%20OR%201%3D1%20--"), False),
    "SQL in id, DELETE: ' OR 1=1 --": (request("DELETE", "/users/%27%20OR%201%3D1%20--"), False),
    "SQL in id, PUT: \"; DROP TABLE users; --": (
        request("PUT", "/users/%22%3B%20DROP%20TABLE%20users%3B%20--", user(), {"Content-Type": "application/json"}),
        False),
    "SQL in id, DELETE: \"; DROP TABLE users; --": (request("DELETE", "/users/%22%3B%20DROP%20TABLE%20users%3B%20--"),
                                                    False),
    "SQL in email": (json_post(user(email="' OR 1=1 --")), False),
    "SQL in email (2)": (json_post(user(email='"; DROP TABLE users; --')), False),
    "SQL in name of a PUT to a missing id": (
        request("PUT", "/users/" + str(uuid.UUID(int=1)), user(name="'; DROP TABLE users; --"),
                {"Content-Type": "application/json"}), False),
    "SQL in the list cursor": (request("GET", "/users?after=%27%20OR%201%3D1%20--&limit=1%3BDROP"), False),
    "SQL in limit": (request("GET", "/users?limit=1%20OR%201%3D1"), False),
    "duplicate keys in JSON": (json_post(b'{"name":"a","name":"b","email":"dup@example.org"}'), False),
    "duplicate email key": (json_post(b'{"name":"a","email":"d1@example.org","email":"d2@example.org"}'), False),
    "Content-Type text/plain": (json_post(user(), content_type="text/plain"), False),
    "Content-Type form": (json_post(user(), content_type="application/x-www-form-urlencoded"), False),
    "Content-Type multipart": (json_post(user(), content_type="multipart/form-data; boundary=x"), False),
    "Content-Type application/jsonx": (json_post(user(), content_type="application/jsonx"), False),
    "no Content-Type": (request("POST", "/users", user()), False),
    "JSON array body": (json_post(b'[{"name":"a","email":"arr@example.org"}]'), False),
    "JSON string body": (json_post(b'"name"'), False),
    "JSON number body": (json_post(b"42"), False),
    "JSON null body": (json_post(b"null"), False),
    "JSON true body": (json_post(b"true"), False),
    "empty body": (json_post(b""), False),
    "trailing garbage after JSON": (json_post(user() + b"garbage"), False),
    "two JSON documents": (json_post(user() + user(email="two@example.org")), False),
    "wrong field types": (json_post(b'{"name":123,"email":["x@example.org"]}'), False),
    "unknown field": (json_post(b'{"name":"a","email":"uf@example.org","admin":true}'), False),
    "client-chosen id": (json_post(b'{"id":"00000000-0000-0000-0000-000000000001","name":"a","email":"id@example.org"}'),
                         False),
    "huge number": (json_post(b'{"name":"a","email":"n@example.org","x":1' + b"0" * 5000 + b"}"), False),
    "PUT with invalid JSON": (request("PUT", "/users/{seed}", b"{", {"Content-Type": "application/json"}), False),
    "PUT with JSON array": (request("PUT", "/users/{seed}", b"[]", {"Content-Type": "application/json"}), False),
    "PUT with control chars": (request("PUT", "/users/{seed}", user(name="x\u0007y"),
                                       {"Content-Type": "application/json"}), False),
    "PUT with text/plain": (request("PUT", "/users/{seed}", user(), {"Content-Type": "text/plain"}), False),
    "Content-Length shorter than body, then junk": (
        request("POST", "/users", user(), {"Content-Type": "application/json", "Content-Length": "5"}), True),
    "negative Content-Length": (
        request("POST", "/users", b"", {"Content-Type": "application/json", "Content-Length": "-1"}), True),
    "non-numeric Content-Length": (
        request("POST", "/users", b"", {"Content-Type": "application/json", "Content-Length": "abc"}), True),
    "garbage request line": (b"\x00\x01\x02 not http at all\r\n\r\n", True),
    "HTTP/9.9": (b"GET /users HTTP/9.9\r\nHost: x\r\n\r\n", True),
    "request line without version": (b"GET /users\r\n\r\n", True),
    "absolute URI with other host": (request("GET", "http://evil.example/users/.."), True),
    "2 KB path": (request("GET", "/users/" + "a" * 2048), False),
    "100 KB path": (request("GET", "/users/" + "a" * 100_000), True),
}


# Pistache 0.0.5 sizes the body buffer from Content-Length while parsing the
# headers, before ClusterLite sees the request: a value it cannot allocate
# fails inside the library (it answered a plain-text 500); the node answers
# 413 (too large) and 400 (negative) with problem+json. Under
# AddressSanitizer a failed `new` ends the process instead of throwing
# std::bad_alloc, so these requests cannot be survived by a sanitizer build.
ALLOCATION_FAILURES = {"Content-Length larger than the request limit, no body": 413, "negative Content-Length": 400}

SANITIZED = "libasan" in subprocess.run(["ldd", str(BINARY)], capture_output=True, text=True).stdout


def fingerprint(node: Node) -> tuple:
    c = node.checksum()
    users = node.all_users()
    return c["rows"], c["checksum"], len(users), tuple(sorted((u["id"], u["name"], u["email"]) for u in users))


def assert_alive(node: Node) -> None:
    assert node.running(), f"node exited with {node.proc.returncode}:\n{node.log_tail()}"
    assert http("GET", node.url + "/healthz", timeout=5).status == 200


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_request(node: Node, seed_id: str, case: str):
    if SANITIZED and case in ALLOCATION_FAILURES:
        pytest.skip("AddressSanitizer aborts on the failed allocation that Pistache turns into a 500")
    data, close_ok = CASES[case]
    data = data.replace(b"{seed}", seed_id.encode())
    before = fingerprint(node)
    answer: RawAnswer = raw_request(node.port, data, timeout=20)
    if answer.status is None:
        assert close_ok, f"{case}: the connection closed without an HTTP answer ({answer.error})"
    elif case in ALLOCATION_FAILURES:
        assert answer.status == ALLOCATION_FAILURES[case], f"{case}: {answer.status}: {answer.body[:300]!r}"
    else:
        assert 400 <= answer.status < 500, (
            f"{case}: expected a 4xx, got {answer.status}: {answer.head[:200]!r} {answer.body[:300]!r}")
    assert_alive(node)
    assert fingerprint(node) == before, f"{case}: the data changed"


def test_slow_sender_is_cut_off(node: Node):
    """A client that sends its request head one byte at a time, slower than the
    header timeout, loses its connection; the node keeps serving others."""
    before = fingerprint(node)
    data = b"GET /users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 200 + b"\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", node.port), timeout=5)
    started = time.monotonic()
    closed_after = None
    answer = b""
    last_probe = 0.0
    try:
        s.settimeout(0.5)
        for b in data:
            try:
                s.sendall(bytes([b]))
                answer = s.recv(4096)  # waits up to 0.5 s: the byte-by-byte pace
                # The node closed the connection (b"") or answered before the
                # request was complete (a 408): either way the sender is cut off.
                closed_after = time.monotonic() - started
                break
            except socket.timeout:
                pass
            except OSError:
                closed_after = time.monotonic() - started
                break
            # Meanwhile, other clients are served.
            if time.monotonic() - last_probe > 3:
                last_probe = time.monotonic()
                assert http("GET", node.url + "/healthz", timeout=5).status == 200
            if time.monotonic() - started > HEADER_TIMEOUT_S + 15:
                break
    finally:
        s.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert closed_after is not None, "the slow sender's connection was never closed"
    assert closed_after <= HEADER_TIMEOUT_S + 5, closed_after
    assert_alive(node)
    assert fingerprint(node) == before


def test_many_idle_connections_do_not_block_others(node: Node):
    socks = []
    try:
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", node.port), timeout=5))
        for s in socks[:100]:
            s.sendall(b"GET /users HTTP/1.1\r\n")  # incomplete head
        assert http("GET", node.url + "/users?limit=1", timeout=10).status == 200
    finally:
        for s in socks:
            s.close()
    assert_alive(node)


def test_sql_fragments_in_fields_are_stored_literally(tmp_path):
    """SQL in a valid name is data, not code: it is stored and read back as sent,
    and the table is intact."""
    n = Node(name="literal-1", workdir=tmp_path, brokers="", topic="unused", mode="standalone")
    n.start()
    try:
        names = ["' OR 1=1 --", '"; DROP TABLE users; --', "Robert'); DROP TABLE users;--", "x' UNION SELECT 1 --"]
        ids = []
        for i, name in enumerate(names):
            r = n.create_user(name, f"sql-{i}@example.org")
            assert r.status == 201, r.body
            ids.append(r.json()["id"])
        for user_id, name in zip(ids, names):
            got = n.request("GET", f"/users/{user_id}")
            assert got.status == 200 and got.json()["name"] == name
        r = n.request("PUT", f"/users/{ids[0]}", {"name": "'; DELETE FROM users; --", "email": "sql-0@example.org"})
        assert r.status == 200, r.body
        assert len(n.all_users()) == len(names)
        assert n.query("SELECT count(*) FROM users")[0][0] == len(names)
    finally:
        n.stop()
