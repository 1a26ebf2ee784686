"""scripts/cluster: a whole cluster (nodes + nginx) on alternate ports, the
original README's curl examples through nginx, and a clean `down`."""

import subprocess
from pathlib import Path

import pytest

from harness import Launcher, Node, http, wait_converged, wait_until


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture
def launcher_env(tmp_path, brokers, topic):
    launcher = Launcher(tmp_path, brokers, topic)
    try:
        yield launcher, launcher.base, launcher.state
    finally:
        launcher.run("down", timeout=120)


def test_launcher_up_curl_examples_status_down(launcher_env, topic):
    launcher, base, state = launcher_env
    up = launcher.run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    api = f"http://127.0.0.1:{base + 3}"
    assert f"{api}/ui/" in up.stdout

    # The original README's examples, through nginx.
    r = http("POST", f"{api}/users", {"name": "John Doe", "email": "john@example.com"})
    assert r.status == 201, r.body
    john = r.json()
    assert john["name"] == "John Doe" and john["email"] == "john@example.com"
    # nginx may send the GET to another node: reads are local, so a strong
    # read sees the write at once and a plain one within a bounded time.
    strong = http("GET", f"{api}/users?consistency=strong")
    assert strong.status == 200 and john["id"] in {u["id"] for u in strong.json()}
    wait_until(lambda: all(john["id"] in {u["id"] for u in http("GET", f"{api}/users").json()} for _ in range(3)),
               20, "John Doe in GET /users on every node")

    # Writes via nginx are visible on every node.
    ids = [john["id"]]
    for k in range(9):
        r = http("POST", f"{api}/users", {"name": f"Via nginx {k}", "email": f"nginx-{k}@example.org"})
        assert r.status == 201, r.body
        ids.append(r.json()["id"])
    node_urls = [f"http://127.0.0.1:{base + i}" for i in range(3)]
    for url in node_urls:
        for user_id in ids:
            wait_until(lambda: http("GET", f"{url}/users/{user_id}").status == 200, 20, f"{user_id} on {url}")
    # nginx spread the writes over the nodes (round robin).
    writers = {http("GET", f"{api}/healthz").headers.get("x-clusterlite-node") for _ in range(6)}
    assert len(writers) >= 2, writers

    # Bodies over the limits: the node's own 413 (over http.max_body_bytes), and
    # nginx's (over its client_max_body_size), both problem+json.
    for size, node_answered in ((1_500_000, True), (3_000_000, False)):
        r = http("POST", f"{api}/users", {"name": "n" * size, "email": "big@example.org"})
        assert r.status == 413 and r.headers["content-type"] == "application/problem+json", (size, r.headers)
        assert r.json()["status"] == 413 and r.json()["detail"]
        assert ("x-clusterlite-node" in r.headers) == node_answered, (size, r.headers)

    # A strong list's next page stays strong.
    page = http("GET", f"{api}/users?limit=2&consistency=strong")
    assert "consistency=strong" in page.headers["link"], page.headers

    # UI, redirect, cluster.json and per-node paths through nginx.
    assert http("GET", f"{api}/ui/").status == 200
    cluster_json = http("GET", f"{api}/ui/cluster.json").json()
    assert cluster_json == [{"name": f"node-{i}", "prefix": f"/_node/{i}"} for i in (1, 2, 3)]
    for i in (1, 2, 3):
        status = http("GET", f"{api}/_node/{i}/_cluster/status").json()
        assert status["node_id"] == f"node-{i}" and status["topic"] == topic
    assert http("GET", f"{api}/_node/2/users/{john['id']}").json()["email"] == "john@example.com"

    # The per-node databases agree.
    class Remote(Node):
        def __init__(self, url):  # only the HTTP helpers are used
            self._url = url
            self.name = url

        @property
        def url(self):
            return self._url
    wait_converged([Remote(u) for u in node_urls])

    status = launcher.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    pids = sorted(p.read_text() for p in state.glob("*/*.pid"))
    assert len(pids) == 5, pids  # three nodes, nginx and the readiness gate
    again = launcher.run("up")  # harmless while running: nothing restarted
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(p.read_text() for p in state.glob("*/*.pid")) == pids
    assert launcher.run("status").returncode == 0

    down = launcher.run("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert processes_mentioning(str(state)) == []
    assert not [pid for pid in pids if Path(f"/proc/{pid.strip()}").exists()], "down left a process running"
    for port in [base, base + 1, base + 2, base + 3]:
        assert wait_until(lambda: http_refused(port), 5, f"port {port} closed")
    after = launcher.run("status")
    assert after.returncode != 0, after.stdout


def http_refused(port: int) -> bool:
    try:
        http("GET", f"http://127.0.0.1:{port}/healthz", timeout=1)
    except OSError:
        return True
    return False


def test_add_node_starts_from_node_1s_snapshot_and_joins_nginx(tmp_path, brokers, topic):
    launcher = Launcher(tmp_path, brokers, topic, nodes=2, spare_nodes=1)
    try:
        up = launcher.run("up", "--nodes", "2")
        assert up.returncode == 0, up.stdout + up.stderr
        api = launcher.nginx_url
        for k in range(30):
            assert http("POST", f"{api}/users", {"name": f"Before {k}", "email": f"add-{k}@example.org"}).status == 201

        added = launcher.run("add-node")
        assert added.returncode == 0, added.stdout + added.stderr
        assert "node-3: ready in" in added.stdout and "from the snapshot of" in added.stdout, added.stdout
        third = launcher.node_url(3)
        origin = http("GET", f"{third}/_cluster/status").json()["data_origin"]
        assert origin["source"] == "snapshot" and origin["peer"] == launcher.node_url(1), origin

        # nginx knows the new node: its page lists it and requests reach it.
        assert [n["name"] for n in http("GET", f"{api}/ui/cluster.json").json()] == ["node-1", "node-2", "node-3"]
        assert http("GET", f"{api}/_node/3/_cluster/status").json()["node_id"] == "node-3"
        seen = {http("GET", f"{api}/healthz").headers.get("x-clusterlite-node") for _ in range(9)}
        assert "node-3" in seen, seen

        # It has every row, and takes writes like the others.
        r = http("POST", f"{third}/users", {"name": "On node 3", "email": "node3@example.org"})
        assert r.status == 201, r.body

        class Remote(Node):
            def __init__(self, url):  # only the HTTP helpers are used
                self._url = url
                self.name = url

            @property
            def url(self):
                return self._url

        summary = wait_converged([Remote(launcher.node_url(i)) for i in (1, 2, 3)])
        assert summary["rows"] == 31
        status = launcher.run("status")
        assert status.returncode == 0 and "node-3: up" in status.stdout, status.stdout
    finally:
        launcher.run("down", timeout=120)


def test_launcher_cluster_with_tokens_from_the_environment(tmp_path, brokers, topic):
    # The launcher writes its nodes' configs on every `up`: tokens come from the
    # environment, which every node it starts inherits (README, "tokens").
    read, write = "dashboard-token-0123", "service-token-01234"
    launcher = Launcher(tmp_path, brokers, topic,
                        extra_env={"CLUSTERLITE_READ_TOKENS": read, "CLUSTERLITE_WRITE_TOKENS": write})
    try:
        up = launcher.run("up")
        assert up.returncode == 0, up.stdout + up.stderr
        api = launcher.nginx_url
        assert http("GET", f"{api}/users").status == 401
        assert http("POST", f"{api}/users", {"name": "T", "email": "t@example.org"},
                    {"Authorization": f"Bearer {read}"}).status == 403
        made = http("POST", f"{api}/users", {"name": "T", "email": "t@example.org"},
                    {"Authorization": f"Bearer {write}"})
        assert made.status == 201, made.body
        assert http("GET", f"{api}/users", headers={"Authorization": f"Bearer {read}"}).status == 200
        for i in (1, 2, 3):  # every node has them, not only the one nginx chose
            assert http("GET", f"{launcher.node_url(i)}/users").status == 401
        assert http("GET", f"{api}/readyz").status == 200  # open, as documented
    finally:
        launcher.run("down", timeout=120)


def test_launcher_serves_https_with_the_certificate_it_is_given(tmp_path, brokers, topic):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    launcher = Launcher(tmp_path, brokers, topic)
    https = f"https://127.0.0.1:{launcher.https_port}"
    try:
        bad = launcher.run("up", "--tls", str(cert), str(tmp_path / "missing.pem"))
        assert bad.returncode != 0 and "no readable key file" in bad.stderr, bad.stderr
        up = launcher.run("up", "--tls", str(cert), str(key))
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"{https}/users" in up.stdout

        def curl(*args):
            return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True)
        ok = curl("--cacert", str(cert), "-o", "/dev/null", "-w", "%{http_code}", f"{https}/users")
        assert ok.returncode == 0 and ok.stdout == "200", (ok.stdout, ok.stderr)
        # Without the certificate to trust, curl refuses the server (60: not verified).
        assert curl("-o", "/dev/null", f"{https}/users").returncode == 60
        # Plain HTTP goes on, and a later `up` keeps serving HTTPS.
        assert http("GET", f"{launcher.nginx_url}/users").status == 200
        again = launcher.run("up")
        assert again.returncode == 0, again.stderr
        assert curl("--cacert", str(cert), "-o", "/dev/null", "-w", "%{http_code}", f"{https}/healthz").stdout == "200"
        assert oct((launcher.state / "nginx" / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    finally:
        launcher.run("down", timeout=120)


def metric_sum(url: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus counter's samples whose labels include `labels`."""
    total = 0.0
    for line in http("GET", f"{url}/metrics").body.decode().splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_nginx_sends_no_traffic_to_a_node_until_it_is_ready(tmp_path, brokers, topic):
    """A node replaying a long log is out of nginx's upstream until its /readyz
    answers 200; a node that stops answering leaves it and comes back."""
    import shutil
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        pytest.fail("kcat is not installed: run ./scripts/deps")
    launcher = Launcher(tmp_path, brokers, topic, nodes=2,
                        extra_env={"CLUSTERLITE_CLUSTER_READY_WAIT_S": "0",
                                   "CLUSTERLITE_CLUSTER_GATE_INTERVAL_S": "0.2"})
    api = launcher.nginx_url
    try:
        up = launcher.run("up", "--nodes", "2")
        assert up.returncode == 0, up.stdout + up.stderr
        wait_until(lambda: "out of nginx's upstream: none" in launcher.run("status").stdout, 20, "both nodes in")
        assert http("POST", f"{api}/users", {"name": "First", "email": "first@example.org"}).status == 201

        # Node 2 goes away, loses its database, and the log grows long.
        pid = int((launcher.state / "node-2" / "node.pid").read_text())
        subprocess.run(["kill", "-TERM", str(pid)], check=True)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 20, "node-2 to stop")
        for f in (launcher.state / "node-2").glob("clusterlite.db*"):
            f.unlink()
        n = 300_000
        producer = subprocess.Popen([kcat, "-P", "-b", brokers, "-t", topic, "-K", "|", "-X", "linger.ms=20",
                                     "-X", "batch.num.messages=10000"], stdin=subprocess.PIPE)
        event = ('users|{"id":"%s","operation":"INSERT","table_name":"users","timestamp":"2026-12-01T00:00:00Z",'
                 '"data":{"id":"%s","name":"Replayed %d","email":"replayed-%d@example.org"}}\n')
        for start in range(0, n, 20_000):
            producer.stdin.write("".join(
                event % (f"00000000-0000-4000-8000-{i:012x}", f"00000000-0000-7000-8000-{i:012x}", i, i)
                for i in range(start, start + 20_000)).encode())
        producer.stdin.close()
        assert producer.wait(timeout=120) == 0
        wait_until(lambda: http("GET", f"{launcher.node_url(1)}/readyz").status == 200
                   and http("GET", f"{launcher.node_url(1)}/users?limit=1").status == 200, 120, "node-1 to apply the log")

        # `up` starts node 2 again: it replays while nginx serves from node 1 alone.
        up = launcher.run("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "node-2: not ready yet" in up.stdout, up.stdout
        node2 = launcher.node_url(2)
        observed = 0
        while http("GET", f"{node2}/readyz").status != 200:
            before = metric_sum(node2, "clusterlite_http_requests_total", route="/{table}")
            for _ in range(5):
                r = http("GET", f"{api}/users?limit=1")
                assert r.status == 200 and r.headers.get("x-clusterlite-node") == "node-1", (r.status, r.headers)
            still_not_ready = http("GET", f"{node2}/readyz").status != 200
            after = metric_sum(node2, "clusterlite_http_requests_total", route="/{table}")
            if still_not_ready:
                assert after == before, "nginx sent a table read to node-2 while it was not ready"
                observed += 1
        print("rounds observed while node-2 was not ready:", observed)
        assert observed >= 3, f"node-2 was ready too soon to observe ({observed} rounds): lengthen the log"
        # Ready now: the gate puts it back within a few of its rounds.
        wait_until(lambda: any(http("GET", f"{api}/healthz").headers.get("x-clusterlite-node") == "node-2"
                               for _ in range(4)), 20, "nginx to send node-2 requests once it is ready")
        # The gate logs a change after nginx has reloaded with it.
        gate_log = launcher.state / "nginx" / "gate.log"
        wait_until(lambda: "node-2 ready, in" in gate_log.read_text(), 10, "the gate to log node-2 in")

        # A node that stops answering leaves the upstream, and comes back.
        pid = int((launcher.state / "node-2" / "node.pid").read_text())
        subprocess.run(["kill", "-STOP", str(pid)], check=True)
        try:
            wait_until(lambda: "out of nginx's upstream: node-2" in launcher.run("status").stdout, 20,
                       "the gate to take node-2 out")
            for _ in range(10):
                r = http("GET", f"{api}/users?limit=1", timeout=5)
                assert r.status == 200 and r.headers.get("x-clusterlite-node") == "node-1"
        finally:
            subprocess.run(["kill", "-CONT", str(pid)], check=True)
        wait_until(lambda: "out of nginx's upstream: none" in launcher.run("status").stdout, 20,
                   "the gate to put node-2 back")
        gate = int((launcher.state / "nginx" / "gate.pid").read_text())
    finally:
        launcher.run("down", timeout=120)
    assert not Path(f"/proc/{gate}").exists(), "down left the gate running"
