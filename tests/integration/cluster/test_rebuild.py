"""Point in time: `clusterlite --config FILE --rebuild-to OUT.db --until ...`
replays a node's log into a new SQLite file as the database was at a moment
(docs/design.md, "Point in time"; docs/operations.md, "Undoing a change").
Real node processes, the real broker, the real binary: the rebuild reads the
topic (or a standalone node's embedded log) while the node runs."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from harness import BINARY, Cluster, Node, test_brokers, unique_topic, wait_converged

SUMMARY = re.compile(r"^rebuilt (?P<out>\S+) as of --until (?P<until>\S+) from (?P<source>.+): (?P<events>\d+) events "
                     r"in [0-9.]+ s \(\d+ events/s\): (?P<applied>\d+) applied, (?P<rejected>\d+) rejected, "
                     r"(?P<held>\d+) held; stopped at (?P<stopped>\S+)\n$")


def rebuild(node: Node, out: Path, *until: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs the rebuild with the node's own config file (`until` empty: no --until)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
    args = [str(BINARY), "--config", str(node.config_path), "--rebuild-to", str(out)]
    if until:
        args += ["--until", *until]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def rows(db: Path, sql: str = "SELECT id, name, email, created_at, updated_at FROM users ORDER BY id") -> list:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def users_partition(node: Node) -> tuple[int, int]:
    """The partition of the users table and this node's next offset there
    (after an answered write, the offset just past that write's event)."""
    with_events = [p for p in node.status()["partitions"] if p["applied_offset"] > 0]
    assert len(with_events) == 1, with_events  # one table, one partition
    return with_events[0]["partition"], with_events[0]["applied_offset"]


def rfc3339_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def output_dir(tmp_path: Path) -> Path:
    """A folder for rebuilt files only (the nodes' folders are beside it)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def created(node: Node, name: str) -> dict:
    r = node.create_user(name, f"{name.lower()}@example.org")
    assert r.status == 201, r.body
    return r.json()


def test_a_rebuild_before_a_delete_holds_the_row_and_one_at_an_offset_exactly_the_events_below_it(cluster, tmp_path):
    node = cluster.start(1).nodes[0]
    ada = created(node, "Ada")
    bob = created(node, "Bob")
    partition, after_bob = users_partition(node)
    r = node.request("PUT", f"/users/{bob['id']}", {"name": "Robert", "email": "bob@example.org"})
    assert r.status == 200, r.body
    cy = created(node, "Cy")
    ada_row = rows(node.db_path)[[row[0] for row in rows(node.db_path)].index(ada["id"])]
    # The timestamps come from this machine's clock, as the node's do: the
    # pauses keep the moment strictly between the last write and the delete.
    time.sleep(0.05)
    before_delete = rfc3339_now()
    time.sleep(0.05)
    assert node.request("DELETE", f"/users/{ada['id']}").status == 204
    assert ada["id"] not in [row[0] for row in rows(node.db_path)]

    out = output_dir(tmp_path) / "before-delete.db"
    result = rebuild(node, out, before_delete)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "no progress line when standard error is not a terminal"
    summary = SUMMARY.match(result.stdout)
    assert summary, result.stdout
    assert summary["source"] == f"topic '{cluster.topic}' on {cluster.brokers}"
    assert (summary["events"], summary["applied"], summary["rejected"]) == ("4", "4", "0")
    assert f"{partition}:{after_bob + 2}" in summary["stopped"].split(",")
    # The deleted row, exactly as it was; the others as of that moment.
    rebuilt = rows(out)
    assert ada_row in rebuilt
    assert sorted(r[0] for r in rebuilt) == sorted([ada["id"], bob["id"], cy["id"]])
    assert [r[1] for r in rebuilt if r[0] == bob["id"]] == ["Robert"]
    assert [p.name for p in out.parent.iterdir()] == [out.name], "only OUT.db: no temporary or WAL file"

    # --until P:O: the events at offsets below O, here the two creates.
    at_offset = out.parent / "at-offset.db"
    result = rebuild(node, at_offset, f"{partition}:{after_bob}")
    assert result.returncode == 0, result.stderr
    assert sorted((r[0], r[1]) for r in rows(at_offset)) == sorted([(ada["id"], "Ada"), (bob["id"], "Bob")])
    assert rows(at_offset, "SELECT partition, next_offset FROM _cl_offsets") == [(partition, after_bob)]
    # One offset less: the event just below the bound is Bob's create.
    one_less = out.parent / "one-less.db"
    assert rebuild(node, one_less, f"{partition}:{after_bob - 1}").returncode == 0
    assert [r[0] for r in rows(one_less)] == [ada["id"]]
    assert node.running() and node.request("GET", f"/users/{cy['id']}").status == 200


def test_until_in_the_future_equals_the_current_table(cluster, tmp_path):
    live = cluster.start(1).nodes[0]
    users = [created(live, f"User{i}") for i in range(20)]
    for u in users[:5]:
        assert live.request("DELETE", f"/users/{u['id']}").status == 204
    assert live.create_user("Dup", "user7@example.org").status == 409  # rejected when applied
    out = tmp_path / "now.db"
    result = rebuild(live, out, (datetime.now(timezone.utc) + timedelta(days=3650)).isoformat())
    assert result.returncode == 0, result.stderr
    summary = SUMMARY.match(result.stdout)
    assert summary and summary["rejected"] == "1", result.stdout
    assert rows(out) == rows(live.db_path)
    rejected = "SELECT partition, offset, event_id, status, reason FROM _cl_rejected ORDER BY partition, offset"
    assert rows(out, rejected) == rows(live.db_path, rejected)
    offsets = "SELECT topic, partition, next_offset FROM _cl_offsets ORDER BY partition"
    assert rows(out, offsets) == rows(live.db_path, offsets)

    # The same checksum as the live node's (GET /_cluster/checksum/users): a
    # node started on a copy of OUT.db has nothing left to apply and reports it.
    copy = tmp_path / "copy" / "clusterlite.db"
    copy.parent.mkdir()
    shutil.copy(out, copy)
    from_rebuild = Node(name="from-rebuild", workdir=tmp_path / "copy", brokers=cluster.brokers, topic=cluster.topic,
                        db_path=copy)
    cluster.nodes.append(from_rebuild)
    from_rebuild.start()
    expected = live.checksum()
    assert from_rebuild.checksum() == expected
    assert expected["rows"] == 15
    assert wait_converged([live, from_rebuild]) == expected


def test_refusals_change_nothing(cluster, tmp_path):
    node = cluster.start(1).nodes[0]
    created(node, "Ada")
    outputs = output_dir(tmp_path)
    taken = outputs / "taken.db"
    taken.write_bytes(b"precious")

    result = rebuild(node, taken, "2100-01-01T00:00:00Z")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"clusterlite: rebuild failed: {taken} exists; a rebuild never overwrites a file: "
                             "name a new one\n")
    assert taken.read_bytes() == b"precious"

    out = outputs / "out.db"
    for until, reason in [(("yesterday",), "--until 'yesterday': not an RFC 3339 time"),
                          (("2026-12-07T05:00:00",), "not an RFC 3339 time"),     # no zone
                          (("0:1,0:2",), "partition 0 is named twice"),
                          (("",), "--until needs a value"),
                          ((), "--rebuild-to needs --until")]:
        result = rebuild(node, out, *until)
        assert result.returncode == 2, (until, result.stderr)
        assert reason in result.stderr and result.stderr.count("\n") == 1, (until, result.stderr)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
    result = subprocess.run([str(BINARY), "--config", str(node.config_path), "--until", "0:1"], capture_output=True,
                            text=True, timeout=30, env=env)
    assert result.returncode == 2 and "--until needs --rebuild-to" in result.stderr, result.stderr

    partition, end = users_partition(node)
    for until, reason in [(f"{partition}:{end + 1}", f"ends at offset {end}"),
                          ("7:0", "names partition 7, but topic"),
                          ("2100-01-01T00:00:00Z", "does not exist")]:
        target = out if until != "2100-01-01T00:00:00Z" else outputs / "no-such-dir" / "out.db"
        result = rebuild(node, target, until)
        assert result.returncode == 1, (until, result.stderr)
        assert reason in result.stderr and result.stderr.count("\n") == 1, (until, result.stderr)
    assert [p.name for p in outputs.iterdir()] == ["taken.db"], "a refused rebuild leaves no file"

    # A topic that does not exist is refused, and the rebuild does not create it.
    other = Node(name="other", workdir=tmp_path / "other", brokers=cluster.brokers, topic=unique_topic())
    for _ in range(2):
        result = rebuild(other, out, "2100-01-01T00:00:00Z")
        assert result.returncode == 1 and "does not exist on" in result.stderr, result.stderr
    assert not out.exists()


def test_the_embedded_log_of_a_running_standalone_node(tmp_path):
    node = Node(name="standalone", workdir=tmp_path / "node", brokers="", topic="db_events", mode="standalone")
    node.start()
    try:
        ada = created(node, "Ada")
        created(node, "Bob")
        _, after_bob = users_partition(node)
        time.sleep(0.05)
        before_delete = rfc3339_now()
        time.sleep(0.05)
        assert node.request("DELETE", f"/users/{ada['id']}").status == 204

        out = tmp_path / "before-delete.db"
        result = rebuild(node, out, before_delete)
        assert result.returncode == 0, result.stderr
        summary = SUMMARY.match(result.stdout)
        assert summary and summary["source"] == f"the embedded log of {node.db_path}", result.stdout
        assert summary["stopped"] == "0:2"
        assert sorted(r[1] for r in rows(out)) == ["Ada", "Bob"]

        at_offset = tmp_path / "at-offset.db"
        assert rebuild(node, at_offset, f"0:{after_bob - 1}").returncode == 0
        assert [r[1] for r in rows(at_offset)] == ["Ada"]
        # The node was not disturbed: it goes on taking writes.
        created(node, "Cy")
        assert sorted(r[1] for r in rows(node.db_path)) == ["Bob", "Cy"]
    finally:
        node.stop()
