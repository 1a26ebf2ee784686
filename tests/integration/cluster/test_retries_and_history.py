"""Idempotency-Key and history on a real cluster (docs/design.md, "Retries and
history"): a create retried through another node answers the first create
again; the key with another request is refused; two copies raced through two
nodes apply once and get one answer; a retry after the key's retention (in
event time) is applied as new; equal keys on two tables do not collide; keys
are found by a restarted node and by one that was paused while they were
used; an entity's history is the same on every node and pages."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from harness import REPO, Cluster, Node, wait_converged, wait_until

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
PRODUCTS = json.loads((REPO / "tests" / "fixtures" / "declared" / "products.json").read_text())


def start(cluster: Cluster, count: int) -> list[Node]:
    """Nodes that also serve a declared `products` table (a second table)."""
    extra = {"plugins": {"configure": {"schema": {"settings": {"tables": {"products": PRODUCTS}}}}}}
    nodes = []
    for i in range(count):
        node = cluster.add_node(start=False, extra=extra)
        node.start(wait=(i == 0))  # the first node creates the topic
        nodes.append(node)
    for node in nodes:
        node.wait_healthy()
    return nodes


def keyed(key: str) -> dict:
    return {"Idempotency-Key": key}


def user(name: str) -> dict:
    return {"name": name, "email": f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.org"}


def count_users(node: Node, email: str) -> int:
    return node.query("SELECT count(*) FROM users WHERE email = ?", (email,))[0][0]


def test_retries_through_any_node_answer_the_first_request(cluster: Cluster):
    a, b, c = start(cluster, 3)
    body = user("Retry")
    first = a.request("POST", "/users", body, headers=keyed("create-1"))
    assert first.status == 201, first.body
    assert "idempotency-replayed" not in first.headers
    # The retry through another node, once the first was acknowledged.
    again = b.request("POST", "/users", body, headers=keyed("create-1"))
    assert again.status == 201, again.body
    assert again.headers.get("idempotency-replayed") == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"] == f"/users/{first.json()['id']}"
    wait_converged([a, b, c])
    assert [count_users(n, body["email"]) for n in (a, b, c)] == [1, 1, 1]
    # Every node skipped the retry's event, and counts it.
    for n in (a, b, c):
        assert "clusterlite_idempotent_replays_total 1" in n.request("GET", "/metrics").body.decode()

    # The same key with another body, path or method: 422, nothing applied.
    other = c.request("POST", "/users", user("Other"), headers=keyed("create-1"))
    assert other.status == 422 and other.json()["field"] == "Idempotency-Key", other.body
    put = c.request("PUT", f"/users/{first.json()['id']}", user("Renamed"), headers=keyed("create-1"))
    assert put.status == 422, put.body
    assert a.request("GET", f"/users/{first.json()['id']}").json()["name"] == "Retry"

    # A retried delete finds its entity gone and still answers 204.
    item = f"/users/{first.json()['id']}"
    assert a.request("DELETE", item, headers=keyed("delete-1")).status == 204
    retried = c.request("DELETE", item, headers=keyed("delete-1"))
    assert retried.status == 204 and retried.headers.get("idempotency-replayed") == "true"
    # Without a key the node says what it knows: the entity is gone.
    assert c.request("DELETE", item).status == 404

    # A refused write is refused again on retry, with the same answer.
    taken = user("Taken")
    assert a.request("POST", "/users", taken).status == 201
    dup = b.request("POST", "/users", dict(taken, name="Dup"), headers=keyed("conflict-1"))
    assert dup.status == 409, dup.body
    dup_again = c.request("POST", "/users", dict(taken, name="Dup"), headers=keyed("conflict-1"))
    assert dup_again.status == 409 and dup_again.headers.get("idempotency-replayed") == "true"
    assert dup_again.json()["detail"] == dup.json()["detail"]

    # Malformed keys: 400, nothing written.
    for bad in ("", "x" * 256, "caf\u00e9"):
        r = a.request("POST", "/users", user("Bad"), headers={"Idempotency-Key": bad})
        assert r.status == 400, (bad, r.status, r.body)


def test_raced_duplicates_apply_once_and_answer_alike(cluster: Cluster):
    a, b = start(cluster, 2)
    for round_ in range(5):
        body, key = user(f"Race{round_}"), f"race-{round_}"
        answers = [None, None]

        def send(i, node):
            answers[i] = node.request("POST", "/users", body, headers=keyed(key))

        threads = [threading.Thread(target=send, args=(i, n)) for i, n in enumerate((a, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [r.status for r in answers] == [201, 201], [r.body for r in answers]
        assert answers[0].json() == answers[1].json()
        assert answers[0].headers["location"] == answers[1].headers["location"]
        assert sorted(r.headers.get("idempotency-replayed", "") for r in answers) == ["", "true"]
        wait_converged([a, b])
        assert [count_users(n, body["email"]) for n in (a, b)] == [1, 1]
    # Each copy that came second was skipped, not refused by the unique email.
    for n in (a, b):
        assert n.status()["events_rejected"] == 0
        assert "clusterlite_idempotent_replays_total 5" in n.request("GET", "/metrics").body.decode()


def test_equal_keys_on_two_tables_do_not_collide(cluster: Cluster):
    a, b = start(cluster, 2)
    u = a.request("POST", "/users", user("Keyed"), headers=keyed("shared-key"))
    p = b.request("POST", "/products", {"sku": "SKU-" + uuid.uuid4().hex[:8].upper(), "name": "P", "price_cents": 5},
                  headers=keyed("shared-key"))
    assert (u.status, p.status) == (201, 201), (u.body, p.body)
    assert "idempotency-replayed" not in p.headers


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed (./scripts/deps installs it)")
def test_a_retry_after_the_retention_is_applied_as_new(cluster: Cluster, tmp_path):
    a, b = start(cluster, 2)
    body = user("Late")
    raw = json.dumps(body)
    # The first request's event, as a node made it two seconds ago with a
    # retention of one second (a node's retention is stamped on its events).
    first_id = str(uuid.uuid4())
    at = datetime.now(timezone.utc) - timedelta(seconds=2)
    event = {
        "id": str(uuid.uuid4()), "operation": "INSERT", "table_name": "users",
        "data": dict(body, id=first_id),
        "timestamp": at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "idempotency": {"key": "late-1", "keep_seconds": 1,
                        "request_sha256": hashlib.sha256(f"POST /users\n{raw}".encode()).hexdigest()},
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    subprocess.run([KCAT, "-P", "-b", cluster.brokers, "-t", cluster.topic, "-k", "users",
                    "-X", "partitioner=murmur2_random", str(path)], check=True, timeout=30, capture_output=True)
    wait_until(lambda: a.request("GET", f"/users/{first_id}").status == 200, 20, "the produced event applied")
    # The retry, byte for byte the same request, comes after the key's
    # retention in event time: it is a new request.
    retry = b.request("POST", "/users", raw.encode(), headers=keyed("late-1"))
    assert retry.status == 409 and retry.json()["field"] == "email", retry.body  # applied: the email is taken
    assert "idempotency-replayed" not in retry.headers


def test_history_is_the_same_on_every_node_and_pages(cluster: Cluster):
    a, b, c = start(cluster, 3)
    made = a.request("POST", "/users", user("Hist"))
    assert made.status == 201, made.body
    item = f"/users/{made.json()['id']}"
    email = made.json()["email"]
    assert b.request("PUT", item, {"name": "Hist Two", "email": email}).status == 200
    assert c.request("PUT", item, {"name": "Hist Three", "email": email}).status == 200
    # A refused update is not part of the history.
    other = a.request("POST", "/users", user("Other"))
    assert a.request("PUT", item, {"name": "Clash", "email": other.json()["email"]}).status == 409
    assert a.request("DELETE", item).status == 204
    wait_converged([a, b, c])
    histories = []
    for n in (a, b, c):
        r = n.request("GET", f"{item}/history")
        assert r.status == 200, r.body
        histories.append(r.json())
    assert histories[0] == histories[1] == histories[2]
    entries = histories[0]
    assert [e["operation"] for e in entries] == ["INSERT", "UPDATE", "UPDATE", "DELETE"]
    assert [e["data"].get("name") for e in entries] == ["Hist", "Hist Two", "Hist Three", None]
    assert entries[-1]["data"] == {"id": made.json()["id"]}
    assert [(e["partition"], e["offset"]) for e in entries] == sorted((e["partition"], e["offset"]) for e in entries)
    # Paging: two at a time, following Link.
    page, seen, url = 0, [], f"{item}/history?limit=2"
    while url:
        r = b.request("GET", url)
        assert r.status == 200, r.body
        seen += r.json()
        link = r.headers.get("link", "")
        url = link[1:link.index(">")] if link else None
        page += 1
        assert page <= 3
    assert seen == entries and page == 2


def test_a_retry_through_a_node_that_missed_the_first_request(cluster: Cluster):
    a, b = start(cluster, 2)
    b.stop()
    body = user("Missed")
    first = a.request("POST", "/users", body, headers=keyed("missed-1"))
    assert first.status == 201, first.body
    # b was down when the first request was applied: it comes back behind the
    # log and is asked the retry at once. It applies the first event before
    # the retry's, so it answers with the first request's outcome too.
    b.start()
    again = b.request("POST", "/users", body, headers=keyed("missed-1"))
    assert again.status == 201 and again.headers.get("idempotency-replayed") == "true", again.body
    assert again.json() == first.json()
    wait_converged([a, b])
    assert [count_users(n, body["email"]) for n in (a, b)] == [1, 1]


def test_keys_are_found_after_a_restart_and_by_a_node_that_lagged(cluster: Cluster):
    """A sole writer finds keys through memory built from its file at start-up
    (docs/design.md, "How a key is found"): a restarted node still answers a
    retry of a key it recorded before, and a node paused while keys were used
    decides their retries alike once it catches up."""
    a, b = start(cluster, 2)
    kept = user("Kept")
    first = a.request("POST", "/users", kept, headers=keyed("kept-1"))
    assert first.status == 201, first.body
    wait_converged([a, b])

    b.stop()
    b.start()
    again = b.request("POST", "/users", kept, headers=keyed("kept-1"))
    assert again.status == 201 and again.headers.get("idempotency-replayed") == "true", again.body
    assert again.json() == first.json()

    later = user("Later")
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        second = a.request("POST", "/users", later, headers=keyed("kept-2"))
        assert second.status == 201, second.body
        other = a.request("POST", "/users", user("Other"), headers=keyed("kept-1"))
        assert other.status == 422, other.body
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    retried = b.request("POST", "/users", later, headers=keyed("kept-2"))
    assert retried.status == 201 and retried.headers.get("idempotency-replayed") == "true", retried.body
    assert retried.json() == second.json()
    refused = b.request("POST", "/users", user("Other"), headers=keyed("kept-1"))
    assert refused.status == 422, refused.body
    wait_converged([a, b])
    for email in (kept["email"], later["email"]):
        assert [count_users(n, email) for n in (a, b)] == [1, 1]
    records = "SELECT table_name, key, event_id FROM _cl_idempotency ORDER BY key, event_id"
    assert a.query(records) == b.query(records)
