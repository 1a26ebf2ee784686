"""The attack surface, tried as an attacker on a public port would: a cluster
started by scripts/cluster (real nginx in front of a real node, API tokens set,
a copy of the UI directory with planted symlinks) and standalone nodes with
CORS and tight connection bounds. Every request is sent as raw bytes, so no
client library cleans a path up first.

- UI file names that try to leave the UI directory: 404, directly and through
  nginx, and never a byte of what they aim at.
- Every route of the node's route table (`clusterlite --routes`, the list the
  router matches against): only health, readiness, metrics, cluster status
  and the UI's files are open; everything else needs a token.
- Security headers on UI files and API answers, also through nginx.
- CORS: off unless origins are configured, and then only for them.
- Slow and idle clients: headers and bodies that do not arrive in time are
  cut off, the connection cap refuses at the door, kept-alive connections keep
  working within their bound.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from faultlib import RawAnswer, raw_request
from harness import BINARY, REPO, Launcher, Node, http, test_brokers, unique_topic, wait_until

READ_TOKEN = "read-token-" + uuid.uuid4().hex
WRITE_TOKEN = "write-token-" + uuid.uuid4().hex
SECRET = "SECRET-" + uuid.uuid4().hex  # in files beside the UI directory, never to be served
UI_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
OPEN_ROUTES = {"GET /healthz", "GET /readyz", "GET /metrics", "GET /_cluster/status", "GET /", "GET /ui", "GET /ui/",
               "GET /ui/{file}"}


def request(port: int, method: str, target: str, headers: dict | None = None, body: bytes = b"",
            timeout: float = 15.0) -> RawAnswer:
    hdrs = {"Host": "127.0.0.1", "Connection": "close"}
    if body or method in ("POST", "PUT"):
        hdrs["Content-Length"] = str(len(body))
    hdrs.update(headers or {})
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return raw_request(port, head.encode("latin-1") + body, timeout=timeout)


def header(answer: RawAnswer, name: str) -> str | None:
    for line in answer.head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode("latin-1")
    return None


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- The cluster: scripts/cluster, one node behind nginx ---------------------------------------


class Launched(Launcher):
    """One node behind nginx, with API tokens and a UI directory of the test's."""

    def __init__(self, root: Path):
        self.ui = root / "ui"
        # Read by the node (environment overrides), not by the launcher.
        super().__init__(root, test_brokers(), unique_topic("cl_security"), nodes=1, extra_env={
            "CLUSTERLITE_UI_DIR": str(self.ui),
            "CLUSTERLITE_READ_TOKENS": READ_TOKEN,
            "CLUSTERLITE_WRITE_TOKENS": WRITE_TOKEN,
        })
        self.node_port = self.node_ports[0]

    @property
    def node_config(self) -> Path:
        return self.state / "node-1" / "clusterlite.json"

    @property
    def ports(self) -> dict[str, int]:
        return {"node": self.node_port, "nginx": self.nginx_port}


def plant_ui_copy(ui: Path, secrets: Path) -> None:
    """A copy of web/ with symlinks that lead out of it, and one that stays inside."""
    shutil.copytree(REPO / "web", ui)
    secrets.mkdir()
    (secrets / "secret.txt").write_text(SECRET)
    (ui.parent / "beside.txt").write_text(SECRET)
    (ui / "evil-passwd.js").symlink_to("/etc/passwd")
    (ui / "evil-etc").symlink_to("/etc", target_is_directory=True)
    (ui / "evil-secrets").symlink_to(secrets, target_is_directory=True)
    (ui / "evil-up.js").symlink_to("../beside.txt")
    (ui / "evil-environ").symlink_to("/proc/self/environ")
    (ui / "alias.js").symlink_to("app.js")  # stays inside: served
    (ui / ".hidden.js").write_text(SECRET)


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    cluster = Launched(root)
    plant_ui_copy(cluster.ui, root / "secrets")
    up = cluster.run("up", "--nodes", "1")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield cluster
    finally:
        down = cluster.run("down")
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="module")
def user_ids(launched):
    """Two users made through nginx with the write token: one to read and update, one to delete."""
    ids = []
    for i in range(2):
        body = json.dumps({"name": f"Sec {i}", "email": f"sec-{i}-{uuid.uuid4().hex[:8]}@example.org"}).encode()
        r = request(launched.nginx_port, "POST", "/users?consistency=strong",
                    {**bearer(WRITE_TOKEN), "Content-Type": "application/json"}, body)
        assert r.status == 201, (r.status, r.body)
        ids.append(json.loads(r.body)["id"])
    # Both visible on the node before the route tests read them.
    wait_until(lambda: all(request(launched.node_port, "GET", f"/users/{i}", bearer(READ_TOKEN)).status == 200
                           for i in ids), 20, "the users on the node")
    return ids


# --- 1. UI files stay inside the UI directory ---------------------------------------------------

# The three requests of the report, and variants: encoded, doubled, mixed.
TRAVERSALS = [
    "/ui//etc/passwd",
    "/ui//proc/self/environ",
    "/ui//{node_config}",
    "/ui///etc/passwd",
    "/ui/../../../../../etc/passwd",
    "/ui/css/../../../../etc/passwd",
    "/ui/./../../../etc/passwd",
    "/ui/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/ui/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/ui/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/ui/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/ui/%2fetc%2fpasswd",
    "/ui/%2Fproc%2Fself%2Fenviron",
    "/ui/%252e%252e/%252e%252e/%252e%252e/etc/passwd",
    "/ui/%252fetc%252fpasswd",
    "/ui/.%2e/.%2e/.%2e/etc/passwd",
    "/ui/%2e./%2e./%2e./etc/passwd",
    "/ui/....//....//....//etc/passwd",
    "/ui/..\\..\\..\\etc\\passwd",
    "/ui/..%5c..%5c..%5cetc%5cpasswd",
    "/ui/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/ui/index.html%00/../../../etc/passwd",
    "/ui/%00/etc/passwd",
    "/ui/evil-passwd.js",
    "/ui/evil-etc/passwd",
    "/ui/evil-secrets/secret.txt",
    "/ui/evil-up.js",
    "/ui/evil-environ",
    "/ui/.hidden.js",
    "/ui/../beside.txt",
    "/ui/%2e%2e/beside.txt",
    "/ui/" + "a" * 300,
    "/ui/" + "a/" * 200 + "index.html",
]

LEAK_MARKERS = [b"root:", SECRET.encode(), READ_TOKEN.encode(), WRITE_TOKEN.encode(), b"CLUSTERLITE_",
                b"\"node_id\""]


@pytest.mark.parametrize("via", ["node", "nginx"])
@pytest.mark.parametrize("target", TRAVERSALS)
def test_ui_names_that_leave_the_directory_are_not_found(launched, via, target):
    target = target.replace("{node_config}", str(launched.node_config).lstrip("/"))
    r = request(launched.ports[via], "GET", target)
    assert r.status is not None, r.error
    if via == "node" or target.startswith("/ui//") or target.startswith("/ui/evil") or target.startswith("/ui/.h"):
        # The node refuses all of them itself; nginx passes these on as they are.
        assert r.status == 404, (via, target, r.status, r.body[:200])
    else:
        # nginx refuses some malformed targets itself (400); none reaches a file.
        assert r.status in (400, 404), (via, target, r.status, r.body[:200])
    for marker in LEAK_MARKERS:
        assert marker not in r.body, (via, target, marker)


@pytest.mark.parametrize("via", ["node", "nginx"])
def test_the_ui_itself_is_served(launched, via):
    port = launched.ports[via]
    for target, expect in [("/ui/", b"<!doctype html>"), ("/ui/app.js", b"import"), ("/ui/alias.js", b"import"),
                           ("/ui/style.css", b"{"), ("/ui/favicon.svg", b"<svg")]:
        r = request(port, "GET", target)
        assert r.status == 200, (target, r.status, r.body[:200])
        assert expect in r.body[:4096], target
    r = request(port, "GET", "/")
    assert r.status == 302 and header(r, "Location").endswith("/ui/")


# --- 2. Every route needs the token the route table says --------------------------------------


def route_table() -> list[dict]:
    out = subprocess.run([str(BINARY), "--routes"], capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(out)


def fill(pattern: str, ids: list[str], method: str) -> str:
    values = {"{table}": "users", "{file}": "app.js", "{id}": ids[1] if method == "DELETE" else ids[0]}
    path = pattern
    for placeholder, value in values.items():
        path = path.replace(placeholder, value)
    assert "{" not in path, f"route {pattern} has a placeholder this test does not know: teach fill() a value for it"
    return path


def body_for(method: str) -> tuple[dict, bytes]:
    if method not in ("POST", "PUT"):
        return {}, b""
    user = {"name": "Routed", "email": f"routed-{uuid.uuid4().hex[:10]}@example.org"}
    return {"Content-Type": "application/json"}, json.dumps(user).encode()


def test_only_health_metrics_status_and_the_ui_are_open():
    routes = route_table()
    assert len(routes) >= 14, routes
    open_routes = {f"{r['method']} {r['path']}" for r in routes if r["access"] == "open"}
    assert open_routes == OPEN_ROUTES, "a route was opened or closed: update the docs and this list together"
    assert {r["access"] for r in routes} <= {"open", "read", "write"}


@pytest.mark.parametrize("via", ["node", "nginx"])
def test_every_route_asks_for_its_token(launched, user_ids, via):
    port = launched.ports[via]
    # DELETE last: it removes the second user.
    routes = sorted(route_table(), key=lambda r: r["method"] == "DELETE")
    checked = 0
    for route in routes:
        method, access = route["method"], route["access"]
        path = fill(route["path"], user_ids, method)
        what = f"{via}: {method} {path} ({access})"
        extra, body = body_for(method)
        anonymous = request(port, method, path, extra, body)
        wrong = request(port, method, path, {**extra, **bearer("x" * 40)}, body)
        if access == "open":
            assert anonymous.status in (200, 301, 302), (what, anonymous.status, anonymous.body[:200])
            assert wrong.status in (200, 301, 302), (what, wrong.status)
            continue
        for answer in (anonymous, wrong):
            assert answer.status == 401, (what, answer.status, answer.body[:200])
            assert header(answer, "WWW-Authenticate") == 'Bearer realm="clusterlite"', what
        with_read = request(port, method, path, {**extra, **bearer(READ_TOKEN)}, body)
        if access == "read":
            assert with_read.status == 200, (what, with_read.status, with_read.body[:200])
        else:
            assert with_read.status == 403, (what, with_read.status, with_read.body[:200])
            extra, body = body_for(method)
            with_write = request(port, method, path, {**extra, **bearer(WRITE_TOKEN)}, body)
            assert with_write.status in (200, 201, 204), (what, with_write.status, with_write.body[:200])
        checked += 1
    assert checked >= 6
    if via == "node":
        # Put the deleted user back for the nginx pass.
        extra, body = body_for("POST")
        r = request(port, "POST", "/users", {**extra, **bearer(WRITE_TOKEN)}, body)
        assert r.status == 201
        user_ids[1] = json.loads(r.body)["id"]


@pytest.mark.parametrize("via", ["node", "nginx"])
def test_other_methods_and_unknown_tables_still_need_a_token(launched, via):
    port = launched.ports[via]
    for method, path in [("PATCH", "/users"), ("PATCH", f"/users/{uuid.uuid4()}"), ("GET", "/no_such_table"),
                         ("GET", "/_cl_offsets"), ("GET", "/sqlite_master/1"), ("GET", "/_cluster/checksum/nope"),
                         ("DELETE", "/users")]:
        r = request(port, method, path)
        assert r.status == 401, (via, method, path, r.status)
    # Open routes answer other methods with 405, without asking for a token.
    r = request(port, "POST", "/healthz")
    assert r.status == 405 and header(r, "Allow") == "GET, OPTIONS"


# --- 3. Security headers ------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["node", "nginx"])
def test_ui_files_and_api_answers_carry_security_headers(launched, user_ids, via):
    port = launched.ports[via]
    for target in ["/ui/", "/ui/index.html", "/ui/app.js", "/ui/style.css", "/ui/favicon.svg"]:
        r = request(port, "GET", target)
        assert r.status == 200, target
        assert header(r, "Content-Security-Policy") == UI_CSP, target
        assert header(r, "X-Content-Type-Options") == "nosniff", target
        assert header(r, "X-Frame-Options") == "DENY", target
        assert header(r, "Referrer-Policy") == "no-referrer", target
    answers = {
        "200 list": request(port, "GET", "/users", bearer(READ_TOKEN)),
        "200 item": request(port, "GET", f"/users/{user_ids[0]}", bearer(READ_TOKEN)),
        "200 health": request(port, "GET", "/healthz"),
        "200 metrics": request(port, "GET", "/metrics"),
        "401": request(port, "GET", "/users"),
        "404 ui": request(port, "GET", "/ui//etc/passwd"),
        "404 table": request(port, "GET", "/nope", bearer(READ_TOKEN)),
        "405": request(port, "POST", "/metrics"),
    }
    for name, r in answers.items():
        assert header(r, "X-Content-Type-Options") == "nosniff", (via, name)
        assert header(r, "Content-Security-Policy") == API_CSP, (via, name)
    if via == "nginx":
        r = request(port, "GET", "/ui/cluster.json")  # answered by nginx itself
        assert r.status == 200
        assert header(r, "X-Content-Type-Options") == "nosniff"
        assert header(r, "Content-Security-Policy") == API_CSP
        assert header(r, "Server") == "nginx", "nginx names its version"


# --- 4. CORS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["node", "nginx"])
def test_cors_is_off_in_the_launched_cluster(launched, via):
    port = launched.ports[via]
    origin = {"Origin": "https://evil.example"}
    r = request(port, "GET", "/users", {**origin, **bearer(READ_TOKEN)})
    assert r.status == 200
    assert header(r, "Access-Control-Allow-Origin") is None
    pre = request(port, "OPTIONS", "/users", {**origin, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization, content-type"})
    assert header(pre, "Access-Control-Allow-Origin") is None
    assert header(pre, "Access-Control-Allow-Methods") is None


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A standalone node with one CORS origin and tight connection bounds."""
    root = tmp_path_factory.mktemp("guarded")
    node = Node(name="guarded-1", workdir=root, brokers="", topic="unused", mode="standalone", extra={"http": {
        "cors_origins": ["https://admin.example"], "header_timeout_ms": 1000, "body_timeout_ms": 1500,
        "keepalive_timeout_ms": 3000, "max_connections": 16}})
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_cors_answers_only_configured_origins(guarded):
    admin = {"Origin": "https://admin.example"}
    r = request(guarded.port, "GET", "/users", admin)
    assert header(r, "Access-Control-Allow-Origin") == "https://admin.example"
    assert header(r, "Vary") == "Origin"
    pre = request(guarded.port, "OPTIONS", "/users", {**admin, "Access-Control-Request-Method": "POST"})
    assert pre.status == 204
    assert header(pre, "Access-Control-Allow-Origin") == "https://admin.example"
    assert "POST" in (header(pre, "Access-Control-Allow-Methods") or "")
    for origin in ["https://evil.example", "https://admin.example.evil.example", "null", "https://ADMIN.example"]:
        r = request(guarded.port, "GET", "/users", {"Origin": origin})
        assert header(r, "Access-Control-Allow-Origin") is None, origin
        pre = request(guarded.port, "OPTIONS", "/users", {"Origin": origin, "Access-Control-Request-Method": "PUT"})
        assert header(pre, "Access-Control-Allow-Origin") is None, origin


# --- 5. Slow and idle clients -----------------------------------------------------------------------


def metric(node: Node, name: str) -> float:
    text = http("GET", node.url + "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def closed_after(s: socket.socket, limit: float) -> tuple[float | None, bytes]:
    """Seconds until the peer closed `s` (None if it did not within `limit`), and what it sent."""
    started = time.monotonic()
    got = b""
    s.settimeout(0.2)
    while time.monotonic() - started < limit:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - started, got
        if not chunk:
            return time.monotonic() - started, got
        got += chunk
    return None, got


def send_and_wait_for_close(port: int, data: bytes, limit: float) -> tuple[float | None, bytes]:
    """Sends `data` on a new connection, then closed_after() of it."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(data)
        return closed_after(s, limit)
    finally:
        s.close()


def test_headers_that_do_not_arrive_in_time_are_cut_off(guarded):
    before = metric(guarded, 'clusterlite_http_request_timeouts_total{phase="headers"}')
    silent = socket.create_connection(("127.0.0.1", guarded.port))
    partial = socket.create_connection(("127.0.0.1", guarded.port))
    partial.sendall(b"GET /users HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    try:
        t_silent, said_silent = closed_after(silent, 6)
        t_partial, said_partial = closed_after(partial, 6)
    finally:
        silent.close()
        partial.close()
    assert t_silent is not None and said_silent == b"", (t_silent, said_silent)
    assert t_partial is not None, "a request whose headers never finished was held open"
    assert said_partial.startswith(b"HTTP/1.1 408 "), said_partial[:200]
    assert b"headers did not arrive within 1000 ms" in said_partial
    assert metric(guarded, 'clusterlite_http_request_timeouts_total{phase="headers"}') >= before + 2
    assert http("GET", guarded.url + "/healthz").status == 200


def test_a_body_that_does_not_arrive_in_time_is_cut_off(guarded):
    t, said = send_and_wait_for_close(
        guarded.port, b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{",
        6)
    assert t is not None and said.startswith(b"HTTP/1.1 408 "), (t, said[:200])
    assert b"body did not arrive within 1500 ms" in said
    assert len(guarded.all_users()) == 0, "a half-sent create was applied"


def test_a_slow_request_on_a_kept_alive_connection_gets_the_header_bound(guarded):
    """The keep-alive bound (3 s) is for waiting between requests; a request
    that has begun must finish its headers within 1 s all the same."""
    s = socket.create_connection(("127.0.0.1", guarded.port))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        data = s.recv(65536)
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
        time.sleep(1.5)  # idle, within the keep-alive bound: still open
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        started = time.monotonic()
        t, said = closed_after(s, 6)
    finally:
        s.close()
    assert t is not None and said.startswith(b"HTTP/1.1 408 "), (t, said[:120])
    assert time.monotonic() - started < 2.8, "the keep-alive bound applied instead of the header bound"


def test_idle_connections_close_after_the_keepalive_bound(guarded):
    s = socket.create_connection(("127.0.0.1", guarded.port))
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        t, said = closed_after(s, 8)
    finally:
        s.close()
    assert t is not None and said == b"" and 2.5 < t < 5, (t, said)


def test_connections_past_the_cap_are_refused_at_once(guarded):
    refused_before = metric(guarded, "clusterlite_http_connections_refused_total")
    held = []
    try:
        # Each holds a slot by keeping a request in progress within its bound.
        deadline = time.monotonic() + 5
        while len(held) < 40 and time.monotonic() < deadline:
            s = socket.create_connection(("127.0.0.1", guarded.port))
            held.append(s)
        answers = []
        for s in held:
            s.settimeout(0.3)
            try:
                answers.append(s.recv(4096))
            except socket.timeout:
                answers.append(None)
        refused = [a for a in answers if a and a.startswith(b"HTTP/1.1 503 ")]
        kept = [a for a in answers if a is None]
        assert len(kept) <= 16, f"{len(kept)} connections held past max_connections 16"
        assert len(refused) >= 40 - 16 - 2, [a[:40] if a else a for a in answers]
        assert all(b"http.max_connections" in a for a in refused)
        assert b"Retry-After: 1" in refused[0]
    finally:
        for s in held:
            s.close()
    # Slots come back when connections go.
    wait_until(lambda: metric(guarded, "clusterlite_http_connections") <= 2, 10, "the slots given back")
    assert metric(guarded, "clusterlite_http_connections_refused_total") >= refused_before + len(refused)
    assert http("GET", guarded.url + "/users").status == 200


def test_nginx_cuts_off_slow_headers_itself(launched):
    t, _ = send_and_wait_for_close(launched.nginx_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 20)
    assert t is not None and t < 15, t
