"""Apply-time verdicts are the same on every node; strong reads wait for the log."""

import sqlite3
import threading
import uuid

from harness import Cluster, wait_converged, wait_until


def test_concurrent_creates_with_one_email_exactly_one_wins(cluster3: Cluster):
    n1, n2, n3 = cluster3.nodes
    rounds = 8
    for k in range(rounds):
        email = f"same-{k}-{uuid.uuid4().hex[:8]}@example.org"
        barrier = threading.Barrier(2)
        results = {}

        def create(node, label):
            barrier.wait(timeout=10)
            results[label] = node.create_user(f"Racer {label}", email)

        threads = [threading.Thread(target=create, args=(node, node.name)) for node in (n1, n2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        statuses = sorted(r.status for r in results.values())
        assert statuses == [201, 409], {label: (r.status, r.body[:200]) for label, r in results.items()}
        loser = next(r for r in results.values() if r.status == 409)
        assert loser.headers.get("content-type", "").startswith("application/problem+json")

    summary = wait_converged(cluster3.nodes)
    assert summary["rows"] == rounds
    for node in cluster3.nodes:
        emails = [u["email"] for u in node.all_users()]
        assert len(emails) == len(set(emails)) == rounds, node.name


def test_strong_read_sees_a_write_made_through_another_node(cluster3: Cluster):
    n1, n2, n3 = cluster3.nodes
    for k in range(40):
        # respond-async: node 1 answers right after the broker ack, before applying.
        r = n1.create_user(f"Strong {k}", f"strong-{k}-{uuid.uuid4().hex[:8]}@example.org",
                           headers={"Prefer": "respond-async"})
        assert r.status == 202, r.body
        user_id = r.headers["location"].rsplit("/", 1)[1]
        reader = n2 if k % 2 else n3
        got = reader.request("GET", f"/users/{user_id}?consistency=strong")
        assert got.status == 200, (k, reader.name, got.status, got.body[:200])
        listed = reader.request("GET", "/users?consistency=strong&limit=1000")
        assert listed.status == 200
        assert user_id in {u["id"] for u in listed.json()}


def test_a_write_not_applied_in_time_is_accepted_with_its_location(cluster: Cluster):
    """Past http.write_timeout_ms a write answers 202 with the event's place in
    the log and, like respond-async, the entity's Location; it is applied later."""
    node = cluster.add_node(extra={"http": {"write_timeout_ms": 300}})
    before_email = f"before-{uuid.uuid4().hex[:8]}@example.org"
    # The first write to a fresh topic may itself outlast 300 ms (202).
    existing = node.create_user("Before Lock", before_email)
    assert existing.status in (201, 202), existing.body
    existing_id = existing.headers["location"].rsplit("/", 1)[1]
    wait_until(lambda: node.request("GET", f"/users/{existing_id}").status == 200, 60, "the first user")
    # Another connection holds the database's write lock: the node's applier
    # cannot commit, the log still takes the events.
    lock = sqlite3.connect(str(node.db_path), isolation_level=None, timeout=10)
    try:
        lock.execute("BEGIN IMMEDIATE")
        email = f"late-{uuid.uuid4().hex[:8]}@example.org"
        created = node.create_user("Late", email)
        updated = node.request("PUT", f"/users/{existing_id}",
                               {"name": "Renamed Late", "email": before_email})
        for r in (created, updated):
            assert r.status == 202, (r.status, r.body[:200])
            body = r.json()
            assert body["event_id"] and body["partition"] >= 0 and body["offset"] >= 0, body
        created_path = created.headers.get("location", "")
        assert created_path.startswith("/users/"), created.headers
        assert updated.headers.get("location") == f"/users/{existing_id}", updated.headers
        assert node.request("GET", created_path).status == 404  # not applied yet
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    wait_until(lambda: node.request("GET", created_path).status == 200, 60, "the accepted create to be applied")
    assert node.request("GET", created_path).json()["email"] == email
    wait_until(lambda: node.request("GET", f"/users/{existing_id}").json()["name"] == "Renamed Late",
               60, "the accepted update to be applied")
