"""A node whose database file is deleted while it is stopped rebuilds itself
from the log on start; a database that does not match the log is refused."""

import json
import sqlite3
import subprocess
import uuid

from harness import Cluster, unique_topic, wait_converged


def test_deleted_database_is_rebuilt_from_the_log(cluster: Cluster):
    n1, n2 = cluster.start(2).nodes
    ids = []
    for i in range(120):
        r = (n1 if i % 2 else n2).create_user(f"Rebuild {i}", f"rebuild-{i}-{uuid.uuid4().hex[:6]}@example.org")
        assert r.status == 201, r.body
        ids.append(r.json()["id"])
    for i, user_id in enumerate(ids[:30]):
        r = n1.request("PUT", f"/users/{user_id}", {"name": f"Renamed {i}", "email": f"renamed-{i}@example.org"})
        assert r.status == 200, r.body
    for user_id in ids[30:50]:
        assert n2.request("DELETE", f"/users/{user_id}").status == 204
    before = wait_converged(cluster.nodes)
    assert before["rows"] == 100

    assert n2.stop() == 0
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = n2.db_path.with_name(n2.db_path.name + suffix)
        if path.exists():
            path.unlink()
    assert not n2.db_path.exists()
    # The log grows while it is away.
    for i in range(10):
        assert n1.create_user(f"Meanwhile {i}", f"meanwhile-{i}@example.org").status == 201
    n2.start(timeout=60)
    after = wait_converged(cluster.nodes)
    assert after["rows"] == 110
    assert n2.checksum()["checksum"] == n1.checksum()["checksum"]
    assert n2.query("SELECT count(*) FROM users")[0][0] == 110
    assert n2.query("SELECT count(*) FROM _cl_rejected")[0][0] == 0
    assert n2.request("GET", f"/users/{ids[0]}").json()["name"] == "Renamed 0"
    assert n2.request("GET", f"/users/{ids[40]}").status == 404


def test_database_ahead_of_the_log_stops_the_node_until_rebuilt(cluster: Cluster):
    """A database that applied more of the log than the log holds (the topic was
    replaced, or the broker lost its data) is refused at start with the reason;
    nothing is applied over it. Rebuilt from empty, the node starts again."""
    node = cluster.start(1).nodes[0]
    for i in range(3):
        assert node.create_user(f"Ahead {i}", f"ahead-{i}-{uuid.uuid4().hex[:6]}@example.org").status == 201
    wait_converged(cluster.nodes)
    assert node.stop() == 0
    # Stage the database of a longer log: its applied position is 100 past the end.
    db = sqlite3.connect(node.db_path)
    with db:
        moved = db.execute("UPDATE _cl_offsets SET next_offset = next_offset + 100 WHERE topic = ?",
                           (cluster.topic,)).rowcount
    db.close()
    assert moved >= 1

    node.start(wait=False)
    code = node.proc.wait(timeout=60)
    log = node.log_tail()
    assert code == 1, f"exit code {code}:\n{log}"
    assert "the database does not match the event log" in log, log
    assert "built from another log" in log, log
    assert node.query("SELECT count(*) FROM users")[0][0] == 3

    for suffix in ("", "-wal", "-shm"):
        path = node.db_path.with_name(node.db_path.name + suffix)
        if path.exists():
            path.unlink()
    node.start(timeout=60)
    assert wait_converged(cluster.nodes)["rows"] == 3


def test_database_of_another_topic_is_refused_before_the_topic_is_created(cluster: Cluster):
    """A node whose kafka.topic changed while its database holds another
    topic's events would apply the new log over the old rows: it is refused at
    start with both names, nothing changes in the database, and the new topic
    is not created. Pointed back at its topic, the node starts as before."""
    node = cluster.start(1).nodes[0]
    for i in range(3):
        assert node.create_user(f"Topic {i}", f"topic-{i}-{uuid.uuid4().hex[:6]}@example.org").status == 201
    wait_converged(cluster.nodes)
    assert node.stop() == 0

    other = unique_topic()
    node.topic = other
    node.write_config()
    node.start(wait=False)
    code = node.proc.wait(timeout=60)
    log = node.log_tail()
    assert code == 1, f"exit code {code}:\n{log}"
    assert "the database does not match the event log" in log, log
    assert f"built from topic '{cluster.topic}'" in log, log
    assert f"configured for topic '{other}' (kafka.topic)" in log, log
    assert node.query("SELECT count(*) FROM users")[0][0] == 3
    assert [r[0] for r in node.query("SELECT DISTINCT topic FROM _cl_offsets")] == [cluster.topic]
    meta = json.loads(subprocess.run(["kcat", "-L", "-J", "-b", cluster.brokers], capture_output=True, timeout=30,
                                     check=True).stdout)
    topics = {t["topic"] for t in meta["topics"]}
    assert cluster.topic in topics
    assert other not in topics

    node.topic = cluster.topic
    node.write_config()
    node.start(timeout=60)
    assert wait_converged(cluster.nodes)["rows"] == 3
