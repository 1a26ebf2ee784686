"""scripts/cluster and plugins: each node loads from a plugins directory of its
own, `deploy-plugin` rolls a plugin out node by node (and refuses a broken file
on the first node, changing nothing), and nginx sends reads of a table that a
node holds events of (pending: 503) to another node, never a POST."""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import EXAMPLE_PLUGINS_DIR, PLUGINS_DIR, REPO, Launcher, http, test_brokers, unique_topic, wait_until

NOTES_SO = EXAMPLE_PLUGINS_DIR / "notes.so"
NODES = (1, 2, 3)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def node_status(launcher: Launcher, i: int) -> dict:
    r = http("GET", launcher.node_url(i) + "/_cluster/status", timeout=5)
    assert r.status == 200, r.body
    return r.json()


def plugins_of(launcher: Launcher, i: int) -> dict[str, dict]:
    return {p["table"]: p for p in node_status(launcher, i)["plugins"]}


def pending_of(launcher: Launcher, i: int) -> dict[str, dict]:
    return {t["table"]: t for t in node_status(launcher, i)["pending_tables"]}


def listing(launcher: Launcher) -> dict[int, dict[str, str]]:
    """Every file in every node's plugins directory, with its digest."""
    return {i: {f.name: sha256(f) for f in sorted(launcher.plugins_dir(i).iterdir())} for i in NODES}


def up(launcher: Launcher) -> None:
    result = launcher.run("up", "--nodes", str(len(launcher.node_ports)))
    assert result.returncode == 0, result.stdout + result.stderr


def down(launcher: Launcher) -> None:
    result = launcher.run("down", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """Three nodes and nginx, started by scripts/cluster; shared by the tests
    below that leave no plugin behind (the notes rollout runs last)."""
    assert NOTES_SO.is_file(), f"{NOTES_SO} is not built (cmake --build build)"
    launcher = Launcher(tmp_path_factory.mktemp("deploy"), test_brokers(), unique_topic("cl_deploy"))
    try:
        up(launcher)
        yield launcher
    finally:
        down(launcher)


def test_up_gives_each_node_a_plugins_directory_of_its_own(launched):
    build_users = PLUGINS_DIR / "users.so"
    for i in NODES:
        directory = launched.plugins_dir(i)
        # The build's plugins: users.so and schema.so (which serves no table
        # until a config declares one, docs/entities.md).
        assert sorted(f.name for f in directory.iterdir()) == ["schema.so", "users.so"], i
        assert sha256(directory / "users.so") == sha256(build_users)
        config = json.loads((launched.state / f"node-{i}" / "clusterlite.json").read_text())
        assert config["plugins"]["directory"] == str(directory)
        users = plugins_of(launched, i)["users"]
        assert users["sha256"] == sha256(build_users) and users["name"] == "users"
        log = (launched.state / f"node-{i}" / "node.log").read_text()
        assert f"loaded {directory / 'users.so'} serving table users" in log

    usage = launched.run("no-such-command")
    assert usage.returncode == 2 and "deploy-plugin FILE.so" in usage.stderr
    helped = launched.run("help")
    assert helped.returncode == 0 and "deploy-plugin FILE.so" in helped.stdout


def test_deploy_of_a_broken_file_fails_on_node_1_and_changes_nothing(launched, tmp_path):
    before_files = listing(launched)
    before_plugins = {i: plugins_of(launched, i) for i in NODES}

    broken = tmp_path / "x.so"
    broken.write_text("not a shared object\n")
    result = launched.run("deploy-plugin", str(broken), timeout=120)
    assert result.returncode != 0, result.stdout
    assert "node-1 refused x.so (HTTP 422)" in result.stderr, result.stderr
    # The loader's one-line reason, naming the file in node 1's directory.
    assert f"plugin {launched.plugins_dir(1) / 'x.so'}: not an ELF shared object" in result.stderr, result.stderr
    assert "node-2" not in result.stdout + result.stderr

    # A broken file under the name of a plugin the nodes run: node 1 keeps the old one, on disk too.
    broken_users = tmp_path / "users.so"
    broken_users.write_bytes(b"\x7fELF but not really")
    result = launched.run("deploy-plugin", str(broken_users), timeout=120)
    assert result.returncode != 0, result.stdout
    assert "node-1 refused users.so (HTTP 422)" in result.stderr, result.stderr

    assert listing(launched) == before_files
    for i in NODES:
        assert plugins_of(launched, i) == before_plugins[i]
        assert pending_of(launched, i) == {}
        assert not (launched.state / f"node-{i}" / "deployed-plugins").exists()
    r = http("POST", launched.node_url(1) + "/users", {"name": "Still here", "email": "still@example.org"})
    assert r.status == 201, r.body


def test_deploy_plugin_rolls_notes_out_node_by_node(launched):
    for i in NODES:
        r = http("POST", launched.node_url(i) + "/notes", {"title": "too early"})
        assert r.status == 404, (i, r.status, r.body)

    result = launched.run("deploy-plugin", str(NOTES_SO), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("node-")]
    assert [line.split(":")[0] for line in lines] == ["node-1", "node-2", "node-3"], result.stdout
    for line in lines:
        assert "notes.so version 1 loaded (table notes): ready, lag 0, notes not pending" in line, line

    digest = sha256(NOTES_SO)
    for i in NODES:
        assert sha256(launched.plugins_dir(i) / "notes.so") == digest
        assert sorted(f.name for f in launched.plugins_dir(i).iterdir()) == ["notes.so", "schema.so", "users.so"]
        notes = plugins_of(launched, i)["notes"]
        assert notes["sha256"] == digest and notes["version"] == 1
        assert "notes" not in pending_of(launched, i)

    r = http("POST", launched.node_url(1) + "/notes", {"title": "Rolled out", "body": "on every node"})
    assert r.status == 201, r.body
    note = r.json()
    for i in (2, 3):
        got = wait_until(lambda: (lambda g: g if g.status == 200 else None)(
            http("GET", f"{launched.node_url(i)}/notes/{note['id']}")), 20, f"the note on node-{i}")
        assert got.json() == note

    # A second `up` keeps the deployed plugin (and starts nothing: all runs).
    up(launched)
    for i in NODES:
        assert sha256(launched.plugins_dir(i) / "notes.so") == digest


def test_nginx_retries_reads_of_a_pending_table_on_another_node_but_never_a_post(tmp_path):
    """Node 1 runs notes before the others: they hold its events (pending,
    503). Through nginx a GET or PUT still reaches node 1; a POST that lands
    on a pending node is answered 503, not sent again. deploy-plugin then
    brings notes to nodes 2 and 3, which apply the events they held."""
    launcher = Launcher(tmp_path, test_brokers(), unique_topic("cl_pending"))
    try:
        up(launcher)
        # notes on node 1 only: copied in and loaded, as deploy-plugin does for one node.
        shutil.copy(NOTES_SO, launcher.plugins_dir(1) / ".notes.so.tmp")
        (launcher.plugins_dir(1) / ".notes.so.tmp").rename(launcher.plugins_dir(1) / "notes.so")
        r = http("POST", launcher.node_url(1) + "/_admin/plugins/reload", timeout=60)
        assert r.status == 200, r.body
        assert {p["plugin"]: p["change"] for p in r.json()["plugins"]} == {"notes": "loaded", "users": "unchanged"}

        r = http("POST", launcher.node_url(1) + "/notes", {"title": "First"})
        assert r.status == 201, r.body
        note = r.json()
        for i in (2, 3):
            held = wait_until(lambda: pending_of(launcher, i).get("notes"), 20, f"notes pending on node-{i}")
            assert held["held_events"] >= 1 and held["needs_plugin_version"] == 1, held
            r = http("GET", f"{launcher.node_url(i)}/notes/{note['id']}")
            assert r.status == 503 and r.headers.get("retry-after"), (r.status, r.body)

        # POSTs first (nginx has seen no 503 yet): one per node, round robin.
        answers = []
        for k in range(3):
            r = http("POST", launcher.nginx_url + "/notes", {"title": f"Via nginx {k}"})
            answers.append((r.status, r.headers.get("x-clusterlite-node")))
        assert sorted(answers) == [(201, "node-1"), (503, "node-2"), (503, "node-3")], answers
        # Not resent: node 1 holds the first note and one more, not three.
        r = http("GET", launcher.node_url(1) + "/notes")
        assert r.status == 200 and len(r.json()) == 2, r.body

        # Reads and full updates are idempotent: a pending node's 503 sends them on to node 1.
        for _ in range(6):
            r = http("GET", f"{launcher.nginx_url}/notes/{note['id']}")
            assert (r.status, r.headers.get("x-clusterlite-node")) == (200, "node-1"), (r.status, r.body)
        for k in range(3):
            r = http("PUT", f"{launcher.nginx_url}/notes/{note['id']}", {"title": f"Edited {k}"})
            assert (r.status, r.headers.get("x-clusterlite-node")) == (200, "node-1"), (r.status, r.body)

        # The rollout: node 1 already runs this file; 2 and 3 load it and apply what they held.
        result = launcher.run("deploy-plugin", str(NOTES_SO), timeout=240)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "node-1: notes.so version 1 unchanged (table notes)" in result.stdout, result.stdout
        assert "node-3: notes.so version 1 loaded (table notes)" in result.stdout, result.stdout
        for i in (2, 3):
            assert "notes" not in pending_of(launcher, i)
            r = http("GET", f"{launcher.node_url(i)}/notes/{note['id']}")
            assert r.status == 200 and r.json()["title"] == "Edited 2", (i, r.status, r.body)
            assert len(http("GET", launcher.node_url(i) + "/notes").json()) == 2
    finally:
        down(launcher)


WRITE_TOKEN = "deploy-write-token-0123456789"


def test_deploy_plugin_sends_the_write_token_of_a_cluster_with_tokens(tmp_path):
    launcher = Launcher(tmp_path, test_brokers(), unique_topic("cl_deploy_auth"), nodes=1,
                        extra_env={"CLUSTERLITE_WRITE_TOKENS": WRITE_TOKEN})
    try:
        up(launcher)
        # Without the token the node refuses the reload; the file is taken back out.
        without = dict(launcher.env)
        del without["CLUSTERLITE_WRITE_TOKENS"]
        refused = subprocess.run([str(REPO / "scripts" / "cluster"), "deploy-plugin", str(NOTES_SO)], env=without,
                                 cwd=REPO, capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0, refused.stdout
        assert "node-1 refused notes.so (HTTP 401)" in refused.stderr, refused.stderr
        assert "CLUSTERLITE_WRITE_TOKENS" in refused.stderr
        assert sorted(f.name for f in launcher.plugins_dir(1).iterdir()) == ["schema.so", "users.so"]

        result = launcher.run("deploy-plugin", str(NOTES_SO), timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "node-1: notes.so version 1 loaded (table notes)" in result.stdout, result.stdout
        r = http("POST", launcher.node_url(1) + "/notes", {"title": "Authorised"},
                 headers={"Authorization": f"Bearer {WRITE_TOKEN}"})
        assert r.status == 201, r.body
    finally:
        down(launcher)
