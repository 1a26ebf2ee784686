"""Events written to the topic by an external Kafka client (kcat) in the
documented wire format are applied on every node; malformed messages are
recorded as rejected on every node and never block what follows."""

import json
import os
import shutil
import subprocess
import uuid
from datetime import datetime, timezone

import pytest

from harness import Cluster, wait_converged, wait_until

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def event(operation, data, table="users", event_id=None, timestamp=None):
    return json.dumps({
        "id": event_id or str(uuid.uuid4()),
        "operation": operation,
        "table_name": table,
        "data": data,
        "timestamp": timestamp or datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }).encode()


def produce(cluster: Cluster, tmp_path, messages):
    """Produces each (key, value) as one message, in order, with the nodes' partitioner."""
    for i, (key, value) in enumerate(messages):
        path = tmp_path / f"message-{i}.bin"
        path.write_bytes(value)
        # A file argument is sent as exactly one message, whatever bytes it holds.
        subprocess.run([KCAT, "-P", "-b", cluster.brokers, "-t", cluster.topic, "-k", key,
                        "-X", "partitioner=murmur2_random", str(path)],
                       check=True, timeout=30, capture_output=True)


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed (./scripts/deps installs it)")
def test_external_producer_events_are_applied_and_malformed_ones_rejected(cluster3: Cluster, tmp_path):
    nodes = cluster3.nodes
    # A write through a node first: the external events share its partition order.
    r = nodes[0].create_user("Through HTTP", "http@example.org")
    assert r.status == 201, r.body
    wait_converged(nodes)
    rejected_before = [n.status()["events_rejected"] for n in nodes]

    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    good_then_bad = [
        ("users", event("INSERT", {"id": a, "name": "Ada", "email": "ada@example.org"})),
        ("users", os.urandom(64) + b"\x00\xff"),                                          # random bytes
        ("users", b'{"id": "x", "operation": "INSERT", "table_name": "users", "data": {'),  # invalid JSON
        ("nosuch", event("INSERT", {"id": str(uuid.uuid4()), "name": "N", "email": "n@example.org"},
                         table="nosuch")),                                # no plugin here: held, not rejected
        ("users", event("INSERT", {"id": str(uuid.uuid4()), "name": 42, "email": ["no"]})),  # wrong types
        ("users", event("INSERT", {"id": b, "name": "Bob", "email": "bob@example.org"},  # another time zone
                        timestamp="2026-12-07T01:30:00.25+02:00")),
        ("users", event("UPDATE", {"id": a, "name": "Ada Lovelace", "email": "ada@example.org"})),
        ("users", event("INSERT", {"id": c, "name": "Cy", "email": "cy@example.org"})),
        ("users", event("DELETE", {"id": c})),
    ]
    produce(cluster3, tmp_path, good_then_bad)

    summary = wait_converged(nodes)
    assert summary["rows"] == 3  # http, Ada, Bob
    for node in nodes:
        assert node.request("GET", f"/users/{a}").json()["name"] == "Ada Lovelace", node.name
        bob = node.request("GET", f"/users/{b}").json()
        assert bob["email"] == "bob@example.org", node.name
        # Stored in UTC, as API writes are, the same text on every node.
        assert bob["created_at"] == bob["updated_at"] == "2026-12-06T23:30:00.25Z", (node.name, bob)
        assert node.request("GET", f"/users/{c}").status == 404, node.name

    for node, before in zip(nodes, rejected_before):
        status = wait_until(lambda: (lambda s: s if s["events_rejected"] >= before + 3 else None)(node.status()),
                            10, f"{node.name} events_rejected")
        assert status["events_rejected"] == before + 3, node.name
        rows = node.query("SELECT partition, offset, table_name, reason FROM _cl_rejected WHERE topic = ? "
                          "ORDER BY partition, offset", [cluster3.topic])
        assert len(rows) == 3, (node.name, rows)
        assert all(reason for *_, reason in rows), rows
        # The event of a table no node serves is kept for the day a plugin comes.
        assert [(t["table"], t["held_events"]) for t in status["pending_tables"]] == [("nosuch", 1)], status
        assert node.request("GET", "/nosuch").status == 503

    # Every node recorded the same messages as rejected.
    positions = [node.query("SELECT partition, offset FROM _cl_rejected WHERE topic = ? ORDER BY 1, 2",
                            [cluster3.topic]) for node in nodes]
    assert positions[0] == positions[1] == positions[2]

    # A node that starts afterwards replays the same verdicts.
    fresh = cluster3.add_node()
    assert wait_converged(nodes + [fresh])["checksum"] == summary["checksum"]
    assert fresh.query("SELECT partition, offset FROM _cl_rejected WHERE topic = ? ORDER BY 1, 2",
                       [cluster3.topic]) == positions[0]
    assert fresh.query("SELECT table_name, event_id FROM _cl_held") == nodes[0].query(
        "SELECT table_name, event_id FROM _cl_held")


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed (./scripts/deps installs it)")
def test_a_poisoned_log_is_replayed_with_bounded_log_lines(cluster: Cluster, tmp_path):
    # 600 events a plugin refuses, of two kinds, then a node replays them.
    bad_types = [event("INSERT", {"id": str(uuid.uuid4()), "name": 42, "email": "x@example.org"}) for _ in range(300)]
    taken = str(uuid.uuid4())
    conflicts = [event("INSERT", {"id": taken, "name": "Same", "email": "same@example.org"}) for _ in range(301)]
    lines = tmp_path / "events.txt"
    lines.write_bytes(b"\n".join(bad_types + conflicts) + b"\n")
    node = cluster.add_node()  # creates the topic
    node.stop()
    subprocess.run([KCAT, "-P", "-b", cluster.brokers, "-t", cluster.topic, "-k", "users",
                    "-X", "partitioner=murmur2_random", "-l", str(lines)], check=True, timeout=60, capture_output=True)
    node.start()
    wait_until(lambda: node.status()["events_rejected"] == 600, 60, "the replay to reject 600 events")
    node.stop()  # the counts of what was not shown are written at the latest when it stops
    log = node.log_path.read_text()
    shown = [l for l in log.splitlines() if "rejected event at" in l]
    counted = [l for l in log.splitlines() if "more events of table users rejected" in l]
    assert len(shown) == 10, shown  # the first five of each kind
    assert sum(int(l.split(" more events")[0].split()[-1]) for l in counted) == 590, counted
    assert node.query("SELECT count(*) FROM _cl_rejected")[0][0] == 600


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed (./scripts/deps installs it)")
def test_a_node_catching_up_refuses_default_reads_until_ready(cluster: Cluster, tmp_path):
    node = cluster.add_node(extra={"applier": {"max_ready_lag": 100}})  # creates the topic
    node.stop()
    stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    lines = tmp_path / "events.txt"
    with open(lines, "wb") as f:
        for k in range(200_000):
            f.write(json.dumps({"id": str(uuid.uuid4()), "operation": "INSERT", "table_name": "users",
                                "data": {"id": f"u{k:07d}", "name": "Replayed", "email": f"r{k}@example.org"},
                                "timestamp": stamp}).encode() + b"\n")
    subprocess.run([KCAT, "-P", "-b", cluster.brokers, "-t", cluster.topic, "-k", "users",
                    "-X", "partitioner=murmur2_random", "-l", str(lines)], check=True, timeout=120, capture_output=True)
    node.start(wait=False)
    node.wait_healthy()
    refused = node.request("GET", "/users?limit=1")
    stale = node.request("GET", "/users?limit=1&consistency=none")
    assert refused.status == 503 and refused.headers.get("retry-after"), (refused.status, refused.body[:200])
    assert "consistency=none" in refused.json()["detail"]
    assert stale.status == 200
    assert node.request("GET", "/readyz").status == 503
    wait_until(lambda: node.request("GET", "/readyz").status == 200, 120, "the node to catch up")
    wait_until(lambda: node.request("GET", "/users?limit=1").status == 200, 10, "reads once ready")
