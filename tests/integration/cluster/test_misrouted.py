"""A table whose events arrive on more than one partition (a producer that
does not key by table name, or another partitioner) is detected on every
node: clusterlite_events_misrouted_total{table} rises, /_cluster/status lists
the table, and a warning is logged once per table (and again at a restart
while the table stays misrouted)."""

import json
import re
import shutil
import subprocess
import uuid
from datetime import datetime, timezone

import pytest

from harness import Cluster, wait_converged, wait_until

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
WARNING = "table users has events on partitions"


def event(operation, data):
    return json.dumps({
        "id": str(uuid.uuid4()), "operation": operation, "table_name": "users", "data": data,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }).encode()


def produce_to(cluster: Cluster, tmp_path, partition: int, values: list[bytes]) -> None:
    """Each value as one record keyed "users", on the given partition (as a
    round-robin producer would put it)."""
    for i, value in enumerate(values):
        path = tmp_path / f"record-{partition}-{uuid.uuid4().hex[:8]}-{i}.json"
        path.write_bytes(value)
        subprocess.run([KCAT, "-P", "-b", cluster.brokers, "-t", cluster.topic, "-k", "users", "-p", str(partition),
                        str(path)], check=True, timeout=30, capture_output=True)


def misrouted_metric(node) -> dict[str, int]:
    text = node.request("GET", "/metrics").body.decode()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^clusterlite_events_misrouted_total\{table="([^"]+)"\} (\d+)$', text, re.M)}


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed (./scripts/deps installs it)")
def test_events_of_one_table_on_two_partitions_are_reported(cluster: Cluster, tmp_path):
    nodes = cluster.start(2).nodes
    r = nodes[0].create_user("Routed", "routed@example.org")
    assert r.status == 201, r.body
    wait_converged(nodes)
    home = nodes[0].query("SELECT partition FROM _cl_table_partitions WHERE table_name = 'users'")
    assert len(home) == 1, home
    home = home[0][0]
    for n in nodes:
        assert n.status()["misrouted_tables"] == [], n.name
        assert misrouted_metric(n) == {}, n.name

    # Correctly routed events (the home partition) change nothing.
    produce_to(cluster, tmp_path, home, [event("INSERT", {"id": str(uuid.uuid4()), "name": "Home",
                                                          "email": "home@example.org"})])
    wait_converged(nodes)
    assert all(n.status()["misrouted_tables"] == [] for n in nodes)

    other = (home + 1) % 3
    produce_to(cluster, tmp_path, other, [event("INSERT", {"id": str(uuid.uuid4()), "name": f"Stray {i}",
                                                           "email": f"stray-{i}@example.org"}) for i in range(3)])
    wait_converged(nodes)
    for n in nodes:
        assert n.status()["misrouted_tables"] == [{"table": "users", "partitions": [home, other],
                                                   "misrouted_events": 3}], n.name
        assert misrouted_metric(n) == {"users": 3}, n.name
    wait_until(lambda: all(WARNING in n.log_path.read_text(errors="replace") for n in nodes), 10,
               "the warning in every node's log")

    # A third partition: still one warning per table.
    third = (home + 2) % 3
    produce_to(cluster, tmp_path, third, [event("INSERT", {"id": str(uuid.uuid4()), "name": "Third",
                                                           "email": "third@example.org"})])
    wait_converged(nodes)
    for n in nodes:
        assert n.status()["misrouted_tables"] == [{"table": "users", "partitions": [home, other, third],
                                                   "misrouted_events": 4}], n.name
        assert n.log_path.read_text(errors="replace").count(WARNING) == 1, n.name

    # Recorded in the database: a restarted node still reports it, and warns again.
    nodes[1].stop()
    nodes[1].start()
    wait_until(lambda: nodes[1].log_path.read_text(errors="replace").count(WARNING) == 2, 30,
               "the warning again at the restart")
    assert nodes[1].status()["misrouted_tables"][0]["misrouted_events"] == 4
    assert misrouted_metric(nodes[1]) == {"users": 4}
