"""Plugins rolled out one node at a time: a node that has no plugin for a
table, or an older version of it than an event needs, holds that table's
events and applies them, in log order, once the plugin arrives (live, by
POST /_admin/plugins/reload or SIGHUP, or at a restart). Nodes never diverge.

Uses the gadgets test plugin (tests/plugins/gadgets), whose version 2 refuses
a duplicate serial that version 1 accepts."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from harness import BUILD_DIR, PLUGINS_DIR, REPO, Cluster, Node, wait_converged, wait_until

TEST_PLUGINS = BUILD_DIR / "test-plugins"


def gadget(tag: str, serial: str | None = None) -> dict:
    return {"name": f"Gadget {tag}", "serial": serial or f"sn-{tag}-{uuid.uuid4().hex[:8]}"}


def install(node: Node, build: str) -> None:
    """Copies gadgets.so of `build` (v1, v2, v2b) into the node's own plugins
    directory the way an operator should: a new file renamed over the old."""
    plugins = Path(node.extra["plugins"]["directory"])
    tmp = plugins / ".gadgets.so.tmp"
    shutil.copyfile(TEST_PLUGINS / f"gadgets-{build}" / "gadgets.so", tmp)
    os.replace(tmp, plugins / "gadgets.so")


def reload(node: Node) -> dict:
    r = node.request("POST", "/_admin/plugins/reload", timeout=60)
    assert r.status == 200, (node.name, r.status, r.body[:300])
    return r.json()


def add_nodes(cluster: Cluster, count: int, gadgets: dict[int, str]) -> list[Node]:
    """`count` nodes, each with a plugins directory of its own holding users.so
    and, for node numbers in `gadgets`, gadgets.so of the build named there."""
    nodes = []
    for i in range(1, count + 1):
        plugins = cluster.root / f"plugins-{i}"
        plugins.mkdir()
        shutil.copyfile(PLUGINS_DIR / "users.so", plugins / "users.so")
        node = cluster.add_node(start=False, extra={"plugins": {"directory": str(plugins)}})
        if i in gadgets:
            install(node, gadgets[i])
        node.start(wait=(i == 1))
        nodes.append(node)
    for node in nodes:
        node.wait_healthy()
    return nodes


def pending(node: Node) -> dict[str, dict]:
    return {t["table"]: t for t in node.status()["pending_tables"]}


def gadget_rows(node: Node) -> list[tuple]:
    return node.query("SELECT id, name, serial FROM gadgets ORDER BY id")


def no_rejections_for_want_of_a_plugin(node: Node) -> None:
    rows = node.query("SELECT reason FROM _cl_rejected WHERE reason LIKE 'no plugin%'")
    assert rows == [], (node.name, rows)
    assert node.query("SELECT count(*) FROM _cl_held") == [(0,)], node.name


def test_a_plugin_on_one_node_then_rolled_out_loses_nothing(cluster: Cluster):
    n1, n2, n3 = add_nodes(cluster, 3, {1: "v1"})
    made = []
    for k in range(20):
        r = n1.request("POST", "/gadgets", gadget(str(k)))
        assert r.status == 201, r.body
        made.append(r.json())
    # Nodes 2 and 3 hold the events: the table is pending there, and only there.
    for node in (n2, n3):
        wait_until(lambda: pending(node).get("gadgets", {}).get("held_events") == 20, 30,
                   f"{node.name} to hold 20 gadgets events")
        t = pending(node)["gadgets"]
        assert "no plugin serves table gadgets" in t["reason"], t
        r = node.request("GET", f"/gadgets/{made[0]['id']}")
        assert r.status == 503 and r.headers.get("retry-after"), (r.status, r.body[:200])
        assert "pending" in r.json()["detail"]
        ready = node.request("GET", "/readyz")
        assert ready.status == 200, ready.body  # the node still serves its other tables
        assert ready.json()["pending_tables"][0]["table"] == "gadgets"
        assert node.create_user("Still served", f"still-{node.name}-{uuid.uuid4().hex[:6]}@example.org").status == 201
    assert pending(n1) == {}
    metrics = n2.request("GET", "/metrics").body.decode()
    assert re.search(r'^clusterlite_held_events\{table="gadgets"\} 20$', metrics, re.M), metrics[-2000:]

    # Held events survive a restart of a node that still lacks the plugin.
    n3.stop()
    n3.start()
    wait_until(lambda: pending(n3).get("gadgets", {}).get("held_events") == 20, 30, "node-3 to hold after restart")

    # Node 2 gets the plugin live; node 3 by SIGHUP.
    install(n2, "v1")
    answer = reload(n2)
    assert {(p["table"], p["change"]) for p in answer["plugins"]} == {("users", "unchanged"), ("gadgets", "loaded")}
    install(n3, "v1")
    os.kill(n3.proc.pid, signal.SIGHUP)
    for node in (n2, n3):
        wait_until(lambda: "gadgets" not in pending(node), 30, f"{node.name} to apply its held events")
    # Writes after the rollout go through any node.
    r = n3.request("POST", "/gadgets", gadget("after"))
    assert r.status == 201, r.body
    summary = wait_converged([n1, n2, n3], table="gadgets")
    assert summary["rows"] == 21
    rows = gadget_rows(n1)
    for node in (n1, n2, n3):
        assert gadget_rows(node) == rows, node.name
        no_rejections_for_want_of_a_plugin(node)
        assert node.query("SELECT version FROM _cl_plugins WHERE table_name = 'gadgets'") == [(1,)]
    wait_converged([n1, n2, n3], table="users")


def test_a_rolling_upgrade_with_writes_through_every_node_ends_identical(cluster: Cluster):
    """v1 -> v2 on one node at a time while every node takes writes, among
    them duplicate serials: version 1 events with a duplicate are accepted
    everywhere, version 2 events with one are refused everywhere."""
    nodes = add_nodes(cluster, 3, {1: "v1", 2: "v1", 3: "v1"})
    stop = threading.Event()
    answers: list[tuple[str, int, dict | None]] = []
    lock = threading.Lock()

    def writer(node: Node) -> None:
        k = 0
        while not stop.is_set():
            k += 1
            # Every third gadget reuses a serial of the shared pool.
            serial = f"shared-{k % 5}" if k % 3 == 0 else None
            r = node.request("POST", "/gadgets", gadget(f"{node.name}-{k}", serial))
            with lock:
                answers.append((node.name, r.status, r.json() if r.status in (200, 201, 202) else None))
            time.sleep(0.01)

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in nodes]
    for t in threads:
        t.start()
    try:
        time.sleep(1.5)
        for node in nodes:
            install(node, "v2")
            answer = reload(node)
            assert ("gadgets", "replaced") in {(p["table"], p["change"]) for p in answer["plugins"]}
            # Held (pending) or not, the node may take writes again once it caught up.
            wait_until(lambda: "gadgets" not in pending(node), 60, f"{node.name} to apply held gadgets")
            time.sleep(1.0)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    statuses = {s for _, s, _ in answers}
    # 201 applied; 409 refused by version 2; 503 a pending table on the node
    # asked; 202 a write held on its own node.
    assert statuses <= {201, 202, 409, 503}, statuses
    assert sum(1 for _, s, _ in answers if s == 201) > 30, statuses
    assert any(s == 409 for _, s, _ in answers), "version 2 never refused a duplicate serial"
    summary = wait_converged(nodes, timeout=90, table="gadgets")
    rows = gadget_rows(nodes[0])
    assert summary["rows"] == len(rows)
    for node in nodes:
        assert gadget_rows(node) == rows, node.name
        assert node.query("SELECT version FROM _cl_plugins WHERE table_name = 'gadgets'") == [(2,)]
        # Version 2's migration ran on every node.
        assert node.query("SELECT count(*) FROM pragma_table_info('gadgets') WHERE name = 'note'") == [(1,)]
        assert node.query("SELECT count(*) FROM _cl_held") == [(0,)]
    ids = {r[0] for r in rows}
    for name, status, body in answers:
        if status == 201:
            assert body["id"] in ids, (name, body)
    # The verdicts are the log's: every node rejected the same events.
    rejected = [n.query("SELECT partition, offset, reason FROM _cl_rejected ORDER BY partition, offset")
                for n in nodes]
    assert rejected[0] == rejected[1] == rejected[2]
    assert all("serial already in use" in r[2] for r in rejected[0])


def test_a_node_behind_on_the_version_holds_newer_events_until_upgraded(cluster: Cluster):
    n1, n2 = add_nodes(cluster, 2, {1: "v2", 2: "v1"})
    first = n1.request("POST", "/gadgets", gadget("a", "dup-1"))
    assert first.status == 201
    wait_until(lambda: pending(n2).get("gadgets", {}).get("needs_plugin_version") == 2, 30, "node-2 to hold")
    t = pending(n2)["gadgets"]
    assert "version 2" in t["reason"] and "version 1" in t["reason"], t
    # A duplicate built by version 2 is refused by node 1 ...
    assert n1.request("POST", "/gadgets", gadget("b", "dup-1")).status == 409
    # ... and node 2, still on version 1, must not accept it either: it holds.
    assert n2.request("POST", "/gadgets", gadget("c", "x")).status == 503
    n2.stop()
    install(n2, "v2")
    n2.start()
    wait_until(lambda: "gadgets" not in pending(n2), 30, "node-2 to apply after the upgrade")
    wait_converged([n1, n2], table="gadgets")
    assert gadget_rows(n1) == gadget_rows(n2)
    assert len(gadget_rows(n2)) == 1


def test_live_reload_under_load_fails_no_request(cluster: Cluster, tmp_path: Path):
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: run ./scripts/deps")
    (n1,) = add_nodes(cluster, 1, {1: "v2"})
    script = Path(__file__).with_name("post_gadgets.lua")
    wrk = subprocess.Popen(["wrk", "-t2", "-c8", "-d8s", "-s", str(script), n1.url],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    swaps = 0
    try:
        time.sleep(1.0)
        deadline = time.time() + 5.5
        while time.time() < deadline:
            build = "v2b" if swaps % 2 == 0 else "v2"
            install(n1, build)
            answer = reload(n1)
            assert ("gadgets", "replaced") in {(p["table"], p["change"]) for p in answer["plugins"]}, answer
            swaps += 1
            time.sleep(0.3)
        # A broken file changes nothing: the loaded plugin keeps serving.
        plugins = Path(n1.extra["plugins"]["directory"])
        (plugins / ".broken").write_text("not a shared object")
        os.replace(plugins / ".broken", plugins / "gadgets.so")
        r = n1.request("POST", "/_admin/plugins/reload", timeout=30)
        assert r.status == 422, (r.status, r.body[:300])
        assert "gadgets.so: not an ELF shared object" in r.json()["detail"], r.body
    finally:
        out, _ = wrk.communicate(timeout=60)
    assert wrk.returncode == 0, out
    done = re.search(r"(\d+) requests in", out)
    assert done and int(done.group(1)) > 100, out
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert swaps >= 5
    assert n1.request("POST", "/gadgets", gadget("after-broken")).status == 201
    sha = [p for p in n1.status()["plugins"] if p["table"] == "gadgets"][0]["sha256"]
    import hashlib
    expected = hashlib.sha256((TEST_PLUGINS / f"gadgets-{'v2b' if swaps % 2 else 'v2'}" / "gadgets.so")
                              .read_bytes()).hexdigest()
    assert sha == expected


def test_shared_mode_a_node_with_the_plugin_applies_what_another_held(tmp_path: Path, brokers: str, topic: str):
    """Two nodes on one database file split the partitions; only node 1 has
    the plugin. Node 1 stops; node 2, alone on the file, holds the gadgets
    events an outside producer writes. Node 1 comes back and applies them, in
    order, once, in the shared file."""
    from test_external_events import KCAT, event, produce
    if KCAT is None:
        pytest.fail("kcat is not installed: run ./scripts/deps")
    with Cluster(tmp_path, brokers, topic, mode="shared") as cluster:
        n1, n2 = add_nodes(cluster, 2, {1: "v1"})
        for k in range(30):
            # 202 when node 2 owns the gadgets partition: it holds the event,
            # and node 1 applies it from the shared file's _cl_held.
            r = n1.request("POST", "/gadgets", gadget(f"shared-{k}"))
            assert r.status in (201, 202), (r.status, r.body[:200])
        wait_until(lambda: n1.query("SELECT count(*) FROM gadgets")[0][0] == 30, 30, "30 gadgets in the file")
        made = [{"id": i, "serial": s} for i, s in n1.query("SELECT id, serial FROM gadgets ORDER BY id")]
        n1.stop()
        renames = [("gadgets", event("UPDATE", {"id": g["id"], "name": f"renamed {k}", "serial": g["serial"]},
                                     table="gadgets")) for k, g in enumerate(made[:10])]
        produce(cluster, tmp_path, renames)
        wait_until(lambda: n2.query("SELECT count(*) FROM _cl_held")[0][0] == 10, 30, "node-2 to hold 10 events")
        assert n2.request("GET", "/gadgets").status == 503
        n1.start()

        def settled():
            held = n1.query("SELECT count(*) FROM _cl_held")[0][0]
            renamed = n1.query("SELECT count(*) FROM gadgets WHERE name LIKE 'renamed %'")[0][0]
            return held == 0 and renamed == 10
        wait_until(settled, 30, "node-1 to apply what node-2 held")
        assert n1.query("SELECT count(*) FROM gadgets")[0][0] == 30
        wait_until(lambda: n1.request("GET", "/gadgets?limit=100").status == 200, 10, "node-1 to serve gadgets")
        assert len(n1.request("GET", "/gadgets?limit=100").json()) == 30
        assert n1.query("SELECT count(*) FROM _cl_rejected")[0][0] == 0


def test_a_removed_plugin_turns_its_table_pending_and_keeps_its_rows(cluster: Cluster):
    n1, n2 = add_nodes(cluster, 2, {1: "v1", 2: "v1"})
    made = [n1.request("POST", "/gadgets", gadget(f"kept-{k}")).json() for k in range(5)]
    wait_converged([n1, n2], table="gadgets")
    (Path(n2.extra["plugins"]["directory"]) / "gadgets.so").unlink()
    answer = reload(n2)
    assert ("gadgets", "removed") in {(p["table"], p["change"]) for p in answer["plugins"]}
    r = n2.request("GET", f"/gadgets/{made[0]['id']}")
    assert r.status == 503 and "no plugin serves table gadgets" in r.json()["detail"], (r.status, r.body[:300])
    assert "gadgets" in pending(n2)
    # Writes go on through node 1; node 2 holds them, its rows stay.
    assert n1.request("POST", "/gadgets", gadget("while-removed")).status == 201
    wait_until(lambda: pending(n2)["gadgets"]["held_events"] == 1, 30, "node-2 to hold the new gadget")
    assert len(gadget_rows(n2)) == 5
    install(n2, "v1")
    reload(n2)
    wait_until(lambda: "gadgets" not in pending(n2), 30, "node-2 to serve gadgets again")
    wait_converged([n1, n2], table="gadgets")
    assert len(gadget_rows(n2)) == 6
