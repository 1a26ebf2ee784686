"""Shared mode: nodes on one database file split the partitions and apply
every event exactly once."""

import threading
import uuid

from harness import Cluster, wait_until


def test_three_nodes_on_one_file_apply_each_event_once(tmp_path, brokers, topic):
    with Cluster(tmp_path, brokers, topic, mode="shared") as cluster:
        cluster.start(3)
        nodes = cluster.nodes
        created = []
        conflicts = 0
        lock = threading.Lock()

        def writer(node, index):
            nonlocal conflicts
            for k in range(25):
                email = f"s{index}-{k}@example.org"
                r = node.create_user(f"Shared {index} {k}", email)
                with lock:
                    if r.status == 201:
                        created.append(r.json()["id"])
                    else:
                        assert r.status in (202, 409), (r.status, r.body[:200])
                        conflicts += r.status == 409
            # The same emails again through another node: all duplicates.
            other = nodes[(index + 1) % len(nodes)]
            for k in range(5):
                r = other.create_user("Duplicate", f"s{index}-{k}@example.org")
                with lock:
                    assert r.status == 409, (r.status, r.body[:200])
                    conflicts += 1

        threads = [threading.Thread(target=writer, args=(n, i)) for i, n in enumerate(nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(created) == 75 and conflicts == 15

        def all_applied():
            status = nodes[0].status()
            ends = {p["partition"]: p.get("log_end") for p in status["partitions"]}
            stored = dict(nodes[0].query("SELECT partition, next_offset FROM _cl_offsets WHERE topic = ?",
                                         [topic]))
            offsets = {p: stored.get(p, 0) for p in ends}  # a partition never written has no row
            assert set(stored) <= set(ends), stored
            return ends if None not in ends.values() and offsets == ends else None
        ends = wait_until(all_applied, 30, "the shared offsets to reach the log end")
        assert sum(ends.values()) == 90, ends  # 75 creates + 15 duplicates, one event each

        rows = nodes[0].query("SELECT count(*), count(DISTINCT email) FROM users")[0]
        assert rows == (75, 75)
        assert sorted(r[0] for r in nodes[0].query("SELECT id FROM users")) == sorted(created)
        rejected = nodes[0].query("SELECT count(*) FROM _cl_rejected WHERE topic = ?", [topic])[0][0]
        assert rejected == 15, "each duplicate recorded once"

        # Exactly once across the group: the nodes' counters add up to the log.
        statuses = [n.status() for n in nodes]
        assert sum(s["events_applied"] + s["events_rejected"] for s in statuses) == 90, statuses
        for node in nodes:
            assert node.request("GET", f"/users/{created[0]}").status == 200

        # Every node is ready with no lag, though each applies only some of the
        # partitions: its readiness comes from the shared offsets.
        for node in nodes:
            wait_until(lambda: node.request("GET", "/readyz").status == 200, 10, f"{node.name} ready")
            assert all(p["lag"] == 0 for p in node.status()["partitions"]), node.status()["partitions"]
            assert "clusterlite_consumer_lag{" in node.request("GET", "/metrics").body.decode()
            lags = [l for l in node.request("GET", "/metrics").body.decode().splitlines()
                    if l.startswith("clusterlite_consumer_lag{")]
            assert lags and all(l.endswith(" 0") for l in lags), lags
        # The change stream is not served in shared mode.
        assert nodes[0].request("GET", "/_changes").status == 501


def test_nodes_on_one_file_find_each_others_idempotency_keys(tmp_path, brokers, topic):
    """Keys are found through memory on a sole writer; nodes sharing a file
    cannot see each other's memory, so they find keys through the unique index."""
    with Cluster(tmp_path, brokers, topic, mode="shared") as cluster:
        cluster.start(3)
        nodes = cluster.nodes
        body = {"name": "Keyed Shared", "email": f"keyed-{uuid.uuid4().hex[:8]}@example.org"}
        first = nodes[0].request("POST", "/users", body, {"Idempotency-Key": "shared-retry-1"})
        assert first.status in (201, 202), first.body
        created = first.json()["id"]
        wait_until(lambda: nodes[0].query("SELECT count(*) FROM users WHERE id = ?", [created]) == [(1,)], 30,
                   "the keyed create to be applied")
        for node in nodes:
            retry = node.request("POST", "/users", body, {"Idempotency-Key": "shared-retry-1"})
            assert retry.status == 201, (node.name, retry.status, retry.body)
            assert retry.json()["id"] == created, node.name
            other = node.request("POST", "/users", dict(body, name="Another"), {"Idempotency-Key": "shared-retry-1"})
            assert other.status == 422, (node.name, other.status, other.body)
        assert nodes[0].query("SELECT count(*) FROM users WHERE email = ?", [body["email"]]) == [(1,)]
        assert nodes[0].query("SELECT count(*) FROM _cl_idempotency WHERE key = 'shared-retry-1'") == [(1,)]
        assert nodes[0].query("SELECT count(*) FROM sqlite_master WHERE name = '_cl_idempotency_by_key'") == [(1,)]
