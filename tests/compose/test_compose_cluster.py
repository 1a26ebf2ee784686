"""A running compose cluster, checked the way a user would: the README's curl
commands through nginx, the web UI, a write through each node seen by the
others with equal checksums, a node killed while writes go on through nginx
and started again, and `docker stop` of a node.

scripts/compose-test starts the cluster and runs this file once per compose
file set (replica and shared mode); it is not part of ctest. It reads:
  CLUSTERLITE_COMPOSE       the compose command, e.g. "docker-compose -p P -f compose.yaml ..."
  CLUSTERLITE_COMPOSE_MODE  replica or shared
  CLUSTERLITE_COMPOSE_HTTP_PORT, CLUSTERLITE_COMPOSE_NODE{1,2,3}_PORT  host ports
Every wait is bounded; the tests run in file order against one cluster.
"""

import json
import os
import re
import shlex
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid


COMPOSE = shlex.split(os.environ.get("CLUSTERLITE_COMPOSE", "docker-compose"))
MODE = os.environ.get("CLUSTERLITE_COMPOSE_MODE", "replica")
NGINX = f"http://127.0.0.1:{os.environ.get('CLUSTERLITE_COMPOSE_HTTP_PORT', '8082')}"
NODES = {
    f"node-{n}": f"http://127.0.0.1:{os.environ.get(f'CLUSTERLITE_COMPOSE_NODE{n}_PORT', str(8090 + n))}"
    for n in (1, 2, 3)
}
SERVICES = ("broker", *NODES, "nginx")
# A write answers 201 once the node that took it applied it. In shared mode the
# node that applies an event is the one holding its partition, so a write may
# also answer 202 (accepted, not applied within http.write_timeout_ms) while
# the group rebalances.
WRITE_OK = (201,) if MODE == "replica" else (201, 202)
# Writes through nginx after a node is killed (one writer, each answered).
OUTAGE_WRITES = 60


def wait_until(what, predicate, timeout, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, timeout=30, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def curl(*args):
    """Runs curl as the README does (plus -sS -i to read the status and headers)."""
    out = subprocess.run(["curl", "-sS", "-i", "--max-time", "30", *args], capture_output=True, timeout=40)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.decode().partition("\r\n\r\n")
    status = int(head.split(" ", 2)[1])
    headers = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def docker(*args, timeout=60):
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"docker {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


def container(service):
    cid = subprocess.run([*COMPOSE, "ps", "-q", service], capture_output=True, text=True, timeout=60).stdout.strip()
    assert cid, f"no container for {service}"
    return cid


def state(service):
    return json.loads(docker("inspect", "-f", "{{json .State}}", container(service)))


def created_id(r):
    """The id of the entity a 201 or 202 names in its Location."""
    return r.headers["Location"].rsplit("/", 1)[1]


def create_user(base, tag):
    email = f"{tag}-{uuid.uuid4().hex[:12]}@example.org"
    r = http("POST", f"{base}/users", {"name": f"Compose {tag}", "email": email})
    return r


def wait_applied(base, user_id, timeout=30):
    """The user is readable on the node at `base` (a strong read: the node first
    applies what the log held)."""
    return wait_until(
        f"{user_id} on {base}",
        lambda: http("GET", f"{base}/users/{user_id}?consistency=strong", timeout=10).status == 200,
        timeout,
    )


def log_ends():
    """{partition: log end} as a node reports it (a partition never written ends at 0)."""
    status = http("GET", f"{NODES['node-1']}/_cluster/status", timeout=10).json()
    ends = {str(p["partition"]): p["log_end"] for p in status["partitions"] if "log_end" in p}
    return ends or None


def converged(timeout=90):
    """Waits until every node's `users` checksum reflects the whole log (the
    offsets stored with the table equal the log's end) and all three agree on
    rows, checksum and offsets; returns the checksum document. In shared mode
    the three read one file, so this checks that the group applied everything."""

    def check():
        ends = log_ends()
        sums = [http("GET", f"{b}/_cluster/checksum/users", timeout=10).json() for b in NODES.values()]
        for s in sums:
            offsets = {p: s["offsets"].get(p, 0) for p in ends}
            if offsets != ends or set(s["offsets"]) - set(ends):
                return None
            if (s["checksum"], s["rows"]) != (sums[0]["checksum"], sums[0]["rows"]):
                return None
        # The log may have grown between the reads: confirm it did not.
        return sums[0] if log_ends() == ends else None

    return wait_until("the nodes to converge with equal checksums", check, timeout)


# ---------------------------------------------------------------- the images


def test_every_service_is_healthy():
    def healthy():
        return all(state(s).get("Health", {}).get("Status") == "healthy" for s in SERVICES)

    wait_until("every service to be healthy", healthy, 120, interval=1)


def test_node_image_runs_unprivileged_with_a_readiness_check():
    cid = container("node-1")
    config = json.loads(docker("inspect", "-f", "{{json .Config}}", cid))
    assert config["User"] and config["User"].split(":")[0] not in ("root", "0"), config["User"]
    assert "/readyz" in " ".join(config["Healthcheck"]["Test"])
    uid = docker("exec", cid, "id", "-u")
    assert uid != "0", "the node runs as root"
    # The node process itself (pid 1 in its container).
    assert docker("exec", cid, "stat", "-c", "%u", "/proc/1").strip() == uid


# ---------------------------------------------------------------- as the README says


def test_readme_curl_examples_through_nginx():
    email = f"john-{uuid.uuid4().hex[:8]}@example.com"
    status, headers, body = curl(
        "-X", "POST", f"{NGINX}/users", "-H", "Content-Type: application/json",
        "-d", json.dumps({"name": "John Doe", "email": email}),
    )
    assert status in WRITE_OK, (status, body)
    assert headers.get("x-clusterlite-node") in NODES
    assert re.fullmatch(r"/users/[0-9a-f-]{36}", headers["location"]), headers.get("location")
    user = {"id": headers["location"].rsplit("/", 1)[1]}
    if status == 201:
        user = json.loads(body)
        assert user["name"] == "John Doe" and user["email"] == email
        assert headers["location"] == f"/users/{user['id']}"
    else:
        wait_applied(NGINX, user["id"])
    # nginx may send the next request to a node a few milliseconds behind the
    # one that took the write: the session position makes it read the write.
    position = ["-H", f"ClusterLite-Position: {headers['clusterlite-position']}"]

    status, _, body = curl(f"{NGINX}/users", *position)
    assert status == 200 and any(u["id"] == user["id"] for u in json.loads(body))

    # More than one page of ten: the list answers a Link to the next one.
    for k in range(10):
        created = create_user(NGINX, f"page{k}")
        assert created.status in WRITE_OK
    # Every users event is in one partition: the last write's position covers them all.
    status, headers, body = curl(f"{NGINX}/users?limit=10", "-H",
                                 f"ClusterLite-Position: {created.headers['ClusterLite-Position']}")
    assert status == 200 and len(json.loads(body)) == 10
    assert re.fullmatch(r'</users\?limit=10&after=[^>]+>; rel="next"', headers["link"]), headers.get("link")

    status, _, body = curl(f"{NGINX}/users/{user['id']}", *position)
    assert status == 200 and json.loads(body)["email"] == email

    status, _, body = curl(
        "-X", "PUT", f"{NGINX}/users/{user['id']}", "-H", "Content-Type: application/json",
        "-d", json.dumps({"name": "John Q. Doe", "email": email}),
    )
    assert status in (200, 202), (status, body)
    wait_until("the update", lambda: http("GET", f"{NGINX}/users/{user['id']}?consistency=strong").json()["name"]
               == "John Q. Doe", 30)

    status, _, body = curl("-X", "DELETE", f"{NGINX}/users/{user['id']}")
    assert status in (204, 202), (status, body)
    wait_until("the delete", lambda: http("GET", f"{NGINX}/users/{user['id']}?consistency=strong").status == 404, 30)

    # Errors are problem documents.
    status, headers, body = curl("-X", "POST", f"{NGINX}/users", "-H", "Content-Type: application/json",
                                 "-d", '{"name": ""}')
    assert status == 400 and headers["content-type"].startswith("application/problem+json"), (status, body)


def test_the_web_ui_through_nginx():
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{NGINX}/", timeout=10)
        raise AssertionError("/ did not redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 302 and e.headers["Location"].endswith("/ui/")
    page = http("GET", f"{NGINX}/ui/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "<title>" in html and "ClusterLite" in html
    for src in re.findall(r'(?:src|href)="([^":]+\.(?:js|css|svg))"', html):
        r = http("GET", f"{NGINX}/ui/{src}")
        assert r.status == 200 and r.body, src
    panel = http("GET", f"{NGINX}/ui/cluster.json").json()
    assert [n["name"] for n in panel] == list(NODES)
    # The cluster panel reaches each node through nginx.
    for entry in panel:
        r = http("GET", f"{NGINX}{entry['prefix']}/_cluster/status")
        assert r.status == 200 and r.headers["X-ClusterLite-Node"] == entry["name"], entry


# ---------------------------------------------------------------- replication


def test_a_write_through_each_node_is_seen_by_the_others():
    for name, base in NODES.items():
        r = create_user(base, f"via-{name}")
        assert r.status in WRITE_OK, (name, r.status, r.body[:200])
        assert r.headers["X-ClusterLite-Node"] == name
        user_id = created_id(r)
        for other, other_base in NODES.items():
            wait_applied(other_base, user_id)
    checksum = converged()
    assert checksum["rows"] >= 13, checksum


def test_a_killed_node_catches_up_after_start():
    """Writes go on through nginx while a node is killed: every write sent after
    the kill is answered by another node; one in flight at the victim at that
    instant may fail (nginx does not resend a POST that reached a node).
    Replica mode kills node 2. Shared mode kills the node that applies the
    `users` events (the one whose applier counted them): until the group
    notices (the consumer session times out) nobody applies them, so writes
    answer 202, and then another node takes the partition over."""
    victim = "node-2"
    if MODE == "shared":
        applied = {n: http("GET", f"{b}/_cluster/status").json()["events_applied"] for n, b in NODES.items()}
        victim = max(applied, key=applied.get)
        print(f"events applied per node: {applied}; killing {victim}")
    results = []  # (sent at, status or error, user id, node)
    stop = threading.Event()

    def writer():
        k = 0
        while not stop.is_set() and k < 5000:
            sent = time.monotonic()
            try:
                r = create_user(NGINX, f"outage{k}")
                user_id = created_id(r) if r.status in WRITE_OK else None
                results.append((sent, r.status, user_id, r.headers.get("X-ClusterLite-Node")))
            except (OSError, urllib.error.URLError) as e:
                results.append((sent, repr(e), None, None))
            k += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait_until("writes through nginx", lambda: len(results) >= 10, 30, interval=0.05)
        docker("kill", container(victim))
        wait_until(f"{victim} to be down", lambda: not state(victim)["Running"], 30, interval=0.1)
        killed_at = time.monotonic()
        wait_until(f"{OUTAGE_WRITES} writes after the kill",
                   lambda: sum(sent > killed_at for sent, *_ in results) >= OUTAGE_WRITES, 120, interval=0.1)
    finally:
        stop.set()
        thread.join(60)
    after = [r for r in results if r[0] > killed_at]
    during = [r for r in results if r[0] <= killed_at and r[1] not in WRITE_OK]
    assert all(status in WRITE_OK and node != victim for _, status, _, node in after), after
    assert len(during) <= 1 and all(status in (502, 504) for _, status, _, _ in during), during
    statuses = {}
    for _, status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"{victim} killed during writes through nginx: {len(results)} writes, {len(after)} after the kill "
          f"(in {results[-1][0] - killed_at:.1f}s), statuses {statuses}")
    assert not state(victim)["Running"], f"{victim} came back before `docker start` (restart policy?)"
    written = [user_id for _, _, user_id, _ in results if user_id]

    docker("start", container(victim))
    started = time.monotonic()
    base = NODES[victim]
    wait_until(f"{victim} to be ready again", lambda: http("GET", f"{base}/readyz", timeout=5).status == 200, 120)
    for user_id in written:
        wait_applied(base, user_id)
    checksum = converged()
    print(f"{victim} started: caught up in {time.monotonic() - started:.1f}s, {checksum['rows']} rows, "
          f"checksum {checksum['checksum'][:16]}... on all three")
    wait_until(f"{victim} to be healthy again", lambda: state(victim).get("Health", {}).get("Status") == "healthy",
               60, interval=1)


def test_docker_stop_stops_a_node_cleanly():
    victim = "node-3"
    cid = container(victim)
    started = time.monotonic()
    docker("stop", "-t", "30", cid, timeout=60)
    took = time.monotonic() - started
    s = state(victim)
    assert not s["Running"] and not s["OOMKilled"]
    assert s["ExitCode"] == 0, f"{victim} exited {s['ExitCode']} on SIGTERM"
    assert took < 25, f"{victim} took {took:.1f}s to stop"
    logs = subprocess.run(["docker", "logs", "--tail", "20", cid], capture_output=True, text=True, timeout=30)
    assert "received SIGTERM" in logs.stdout + logs.stderr
    print(f"{victim} stopped in {took:.1f}s with exit code 0")
    # The cluster keeps serving writes through nginx.
    assert create_user(NGINX, "after-stop").status in WRITE_OK
