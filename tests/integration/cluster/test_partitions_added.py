"""Partitions added to the topic while the cluster takes writes: every node
notices within seconds, applies the new partitions, and keeps appending the
users table to the partition its events are in, although the hash of its name
over the new partition count points elsewhere. No event is lost, every node
converges, and the table's events stay in one order (docs/operations.md,
"Adding partitions"). A node that joins afterwards with an empty database
replays the log and appends to the same partition."""

import subprocess
import sys
import time

from harness import BUILD_DIR, REPO, Cluster, unique_topic, wait_converged, wait_until

sys.path.insert(0, str(REPO / "tests" / "fault"))
from faultlib import MixedHistory, check_history_against_log, read_log  # noqa: E402

BEFORE = 2
# A table the schema plugin serves (docs/entities.md) that gets its first
# event only after the change: it goes where its name's hash points.
NEW_TABLE_SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "minLength": 1}},
                    "required": ["label"]}


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (and librdkafka's murmur2_random) picks for a key."""
    m, h = 0x5BD1E995, (0x9747B28C ^ len(key)) & 0xFFFFFFFF
    for i in range(0, len(key) // 4 * 4, 4):
        k = int.from_bytes(key[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = key[len(key) // 4 * 4:]
    if len(rest) >= 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h ^= rest[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def add_partitions(brokers: str, topic: str, total: int) -> None:
    """Raises the topic's partition count, as kafka-topics.sh --alter would."""
    tool = BUILD_DIR / "bin" / "clusterlite-add-partitions"
    assert tool.exists(), f"no {tool}; build the tree (cmake --build)"
    res = subprocess.run([str(tool), brokers, topic, str(total)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-3000:]


def test_partitions_added_under_writes_keep_each_table_in_one_partition(tmp_path, brokers):
    # A new count under which "users" hashes to another partition than before:
    # otherwise the test could not tell the rule from the hash.
    after = next(n for n in range(BEFORE + 1, 20)
                 if murmur2_partition(b"users", n) != murmur2_partition(b"users", BEFORE))
    # ... and a table whose hash over the new count is one of the added partitions.
    new_table = next(t for t in ("gizmos", "widgets", "gadgetry", "parcels", "tickets", "orders", "notes")
                     if murmur2_partition(t.encode(), after) >= BEFORE)
    cluster = Cluster(tmp_path / "nodes", brokers, unique_topic("cl_grow"))
    extra = {"kafka": {"partitions": BEFORE},
             "plugins": {"configure": {"schema": {"settings": {"tables": {new_table: NEW_TABLE_SCHEMA}}}}}}
    try:
        nodes = [cluster.add_node(start=False, extra=extra) for _ in range(3)]
        nodes[0].start(timeout=60)
        for n in nodes[1:]:
            n.start(timeout=60)
        history = MixedHistory(nodes, threads=4, delete_targets=40)
        history.prepare()
        wait_converged(nodes)
        home = murmur2_partition(b"users", BEFORE)
        assert {r["partition"] for r in read_log(brokers, cluster.topic)} == {home}
        history.start()
        try:
            wait_until(lambda: history.count() >= 100, 60, "100 answers before the partitions are added")
            add_partitions(brokers, cluster.topic, after)
            added_at = time.monotonic()
            for n in nodes:
                wait_until(lambda n=n: len(n.status()["partitions"]) == after, 15,
                           f"{n.name} to apply {after} partitions")
            noticed = time.monotonic() - added_at
            wait_until(lambda: len(history.ok_since(added_at)) >= 150, 60, "150 writes after the change")
            # The new table's first events, through every node: on an added partition.
            for i, n in enumerate(nodes):
                r = n.request("POST", f"/{new_table}", {"label": f"first {i}"})
                assert r.status == 201, (n.name, r.status, r.body[:300])
        finally:
            answers = history.stop()
        print(f"{BEFORE} -> {after} partitions; all nodes applied them {noticed:.1f}s after the change; "
              f"users hashes to {murmur2_partition(b'users', after)} now, stays on {home}")

        # A node that joins now replays the log and appends where the table is.
        late = cluster.add_node(start=False, extra=extra)
        late.start(timeout=60)
        r = late.create_user("Late", "late-node@example.org")
        assert r.status == 201, (r.status, r.body[:300])
        nodes.append(late)

        statuses = check_history_against_log(nodes, brokers, cluster.topic, history, answers)
        print("answers by status:", statuses)
        records = read_log(brokers, cluster.topic)
        assert {r["partition"] for r in records if r["key"] == "users"} == {home}
        assert {r["partition"] for r in records if r["key"] == new_table} == {murmur2_partition(new_table.encode(),
                                                                                                after)}
        assert murmur2_partition(new_table.encode(), after) >= BEFORE
        rows = {n.name: sorted(r[0] for r in n.query(f"SELECT label FROM {new_table}")) for n in nodes}
        assert all(v == [f"first {i}" for i in range(3)] for v in rows.values()), rows
        for n in nodes:
            status = n.status()
            assert status["misrouted_tables"] == [], (n.name, status["misrouted_tables"])
            assert [p["partition"] for p in status["partitions"]] == list(range(after)), n.name
            assert "grew from" in n.log_path.read_text(errors="replace") or n is late, n.name
    finally:
        cluster.close()
