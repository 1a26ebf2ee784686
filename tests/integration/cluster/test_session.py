"""Every write answer tells the truth, whichever node a request reaches:
a node that lags does not answer 404 for an entity made through another node,
and a client's session position (ClusterLite-Position header or
clusterlite_position cookie) makes any node wait for the client's own writes."""

from http.client import HTTPConnection
import json
import os
import signal
import time
import uuid

import pytest

from harness import Cluster, Launcher, http, unique_topic, wait_converged, wait_until

POSITION = "clusterlite-position"


def user(tag: str) -> dict:
    return {"name": f"Session {tag}", "email": f"s-{tag}-{uuid.uuid4().hex[:10]}@example.org"}


def test_a_lagging_node_waits_instead_of_answering_404(cluster3: Cluster):
    """Node 2 is paused while node 1 makes users; resumed, it is asked at once
    to change and delete them. It catches up first, then decides."""
    n1, n2, _ = cluster3.nodes
    for round_ in range(3):
        os.kill(n2.proc.pid, signal.SIGSTOP)
        try:
            made = []
            for k in range(5):
                r = n1.create_user(f"Lag {round_}-{k}", f"lag-{round_}-{k}-{uuid.uuid4().hex[:8]}@example.org")
                assert r.status == 201, r.body
                made.append(r.json())
        finally:
            os.kill(n2.proc.pid, signal.SIGCONT)
        for k, u in enumerate(made):
            if k % 2:
                r = n2.request("DELETE", f"/users/{u['id']}")
                assert r.status == 204, (round_, k, r.status, r.body[:200])
            else:
                r = n2.request("PUT", f"/users/{u['id']}", {"name": "Changed on node 2", "email": u["email"]})
                assert r.status == 200, (round_, k, r.status, r.body[:200])
                assert r.json()["name"] == "Changed on node 2"
    # An id no node ever made is still 404, once the node has caught up.
    missing = str(uuid.uuid4())
    assert n2.request("PUT", f"/users/{missing}", {"name": "x", "email": "x@example.org"}).status == 404
    assert n2.request("DELETE", f"/users/{missing}").status == 404
    summary = wait_converged(cluster3.nodes)
    assert summary["rows"] == 3 * 3
    for node in cluster3.nodes:
        assert {u["name"] for u in node.all_users()} == {"Changed on node 2"}, node.name


def test_write_answers_carry_the_session_position(cluster3: Cluster):
    n1, n2, n3 = cluster3.nodes
    created = n1.request("POST", "/users", user("pos"))
    assert created.status == 201
    token = created.headers[POSITION]
    cookie = created.headers["set-cookie"]
    assert cookie.startswith(f"clusterlite_position={token};")
    for attribute in ("Path=/", "SameSite=Lax", "HttpOnly", "Max-Age="):
        assert attribute in cookie, cookie
    # A later write through another node moves the position on, keeping the first.
    u = created.json()
    updated = n2.request("PUT", f"/users/{u['id']}", {"name": "Moved", "email": u["email"]},
                         headers={"ClusterLite-Position": token})
    assert updated.status == 200
    later = updated.headers[POSITION]
    assert later != token
    got = n3.request("GET", f"/users/{u['id']}", headers={"Cookie": f"clusterlite_position={later}"})
    assert got.status == 200 and got.json()["name"] == "Moved"
    # Async writes carry it too.
    accepted = n3.request("POST", "/users", user("async"), headers={"Prefer": "respond-async"})
    assert accepted.status == 202 and POSITION in accepted.headers


def test_a_paused_node_serves_a_session_its_own_writes(cluster3: Cluster):
    """With the position, a read on a node that was behind waits until it has
    the session's write: never a stale answer, never a 404 for it."""
    n1, n2, _ = cluster3.nodes
    for k in range(5):
        os.kill(n2.proc.pid, signal.SIGSTOP)
        try:
            r = n1.request("POST", "/users", user(f"paused-{k}"))
            assert r.status == 201
        finally:
            os.kill(n2.proc.pid, signal.SIGCONT)
        token = r.headers[POSITION]
        got = n2.request("GET", f"/users/{r.json()['id']}", headers={"ClusterLite-Position": token})
        assert got.status == 200, (k, got.status, got.body[:200])
        listed = n2.request("GET", "/users?limit=1000", headers={"Cookie": f"clusterlite_position={token}"})
        assert r.json()["id"] in {u["id"] for u in listed.json()}


def test_bad_foreign_and_unreachable_positions(cluster: Cluster):
    node = cluster.add_node(extra={"http": {"strong_read_timeout_ms": 1500}})
    made = node.request("POST", "/users", user("bad"))
    assert made.status == 201
    token = made.headers[POSITION]
    version, tag, entries = token.split(".", 2)
    for bad in ["nonsense", "1.2.3", token + "_", "2." + tag + "." + entries, "1." + tag + ".0-x",
                "1." + tag + "." + "_".join(f"{p}-1" for p in range(300))]:
        for headers in ({"ClusterLite-Position": bad}, {"Cookie": f"clusterlite_position={bad}"}):
            r = node.request("GET", "/users", headers=headers)
            assert r.status == 400, (bad[:40], headers.keys(), r.status)
            problem = r.json()
            assert "position" in problem["detail"]
            assert problem["field"] in ("ClusterLite-Position", "clusterlite_position cookie")
            w = node.request("POST", "/users", user("refused"), headers=headers)
            assert w.status == 400
    # A token of another log (a cluster built again on a new topic) is ignored.
    foreign = "1." + "0123456789abcdef" + "." + entries
    assert node.request("GET", "/users", headers={"ClusterLite-Position": foreign}).status == 200
    # A position this log never reached: 503 within the bound, not a hang.
    future = f"1.{tag}.0-999999999"
    started = time.monotonic()
    r = node.request("GET", "/users", headers={"ClusterLite-Position": future}, timeout=10)
    assert r.status == 503 and r.headers.get("retry-after") == "1", (r.status, r.body[:200])
    assert time.monotonic() - started < 5
    w = node.request("POST", "/users", user("future"), headers={"ClusterLite-Position": future}, timeout=10)
    assert w.status == 503
    emails = {u["email"] for u in node.all_users()}
    assert not any(e.startswith("s-refused") or e.startswith("s-future") for e in emails)


# --- Through nginx: scripts/cluster ------------------------------------------------------------


@pytest.fixture
def launched(tmp_path, brokers):
    launcher = Launcher(tmp_path, brokers, unique_topic("cl_session"))
    up = launcher.run("up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield launcher.nginx_port, launcher.node_ports
    finally:
        launcher.run("down")


def test_read_your_writes_through_nginx_with_the_cookie_or_the_header(launched):
    port, node_ports = launched
    conn = HTTPConnection("127.0.0.1", port, timeout=30)

    def call(method, path, body=None, carry=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if carry:
            headers.update(carry)
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        res = conn.getresponse()
        data = res.read()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, data

    failures = []
    for i in range(300):
        use_cookie = i % 2 == 0
        carry = {}

        def keep(headers):
            token = headers.get(POSITION)
            if token:
                carry.clear()
                carry.update({"Cookie": f"clusterlite_position={token}"} if use_cookie
                             else {"ClusterLite-Position": token})
        u = user(f"nginx-{i}")
        status, headers, data = call("POST", "/users", u)
        if status != 201:
            failures.append((i, "create", status, data[:120]))
            continue
        keep(headers)
        uid = json.loads(data)["id"]
        status, headers, data = call("PUT", f"/users/{uid}", {"name": f"Renamed {i}", "email": u["email"]}, carry)
        if status != 200:
            failures.append((i, "update", status, data[:120]))
            continue
        keep(headers)
        status, _, data = call("GET", f"/users/{uid}", carry=carry)
        if status != 200 or json.loads(data)["name"] != f"Renamed {i}":
            failures.append((i, "read after update", status, data[:120]))
        status, headers, data = call("DELETE", f"/users/{uid}", carry=carry)
        if status != 204:
            failures.append((i, "delete", status, data[:120]))
            continue
        keep(headers)
        status, _, data = call("GET", f"/users/{uid}", carry=carry)
        if status != 404:
            failures.append((i, "read after delete", status, data[:120]))
    conn.close()
    assert not failures, failures[:10]
    # Every node ends with the same table.
    def checksums():
        return {json.dumps(http("GET", f"http://127.0.0.1:{p}/_cluster/checksum/users").json(), sort_keys=True)
                for p in node_ports}
    wait_until(lambda: len(checksums()) == 1, 30, "equal checksums on every node")
