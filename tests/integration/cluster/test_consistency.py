"""Apply-time verdicts are the same on every node; strong reads wait for the log."""

import threading
import uuid

from harness import Cluster, wait_converged


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
