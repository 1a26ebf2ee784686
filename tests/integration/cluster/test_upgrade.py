"""Upgrade in place: a node database written by an earlier release
(tests/fixtures/db/, with what it held when it was made) opened by this
version. Its data, checksum, rejected events and embedded log are intact, and
the node goes on writing where the old one stopped."""

import json
import shutil
from pathlib import Path

import pytest

from harness import REPO, Node

FIXTURES = REPO / "tests" / "fixtures" / "db"
RELEASES = sorted(p.stem.removeprefix("standalone-") for p in FIXTURES.glob("standalone-*.db"))


def test_every_fixture_has_its_record():
    assert {"0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0"} <= set(RELEASES), RELEASES
    for release in RELEASES:
        assert (FIXTURES / f"standalone-{release}.json").is_file(), release


@pytest.mark.parametrize("release", RELEASES)
def test_a_standalone_database_of_an_earlier_release_opens_and_keeps_working(tmp_path, release):
    expected = json.loads((FIXTURES / f"standalone-{release}.json").read_text())
    db = tmp_path / "node.db"
    shutil.copy(FIXTURES / f"standalone-{release}.db", db)
    node = Node(name="upgraded-1", workdir=tmp_path, brokers="", topic="unused", mode="standalone", db_path=db)
    node.start()
    try:
        users = sorted(({"id": u["id"], "name": u["name"], "email": u["email"]} for u in node.all_users()),
                       key=lambda u: u["id"])
        assert users == expected["users"]
        assert node.checksum() == expected["checksum"]
        rejected = [{"partition": p, "offset": o, "reason": r}
                    for p, o, r in node.query("SELECT partition, offset, reason FROM _cl_rejected ORDER BY offset")]
        assert rejected == expected["rejected"]

        # From 0.3.0 on: the history kept then, and the Idempotency-Key recorded then (a
        # retry of the first create is answered with it, not applied again).
        if "history" in expected:
            h = node.request("GET", f"/users/{expected['history']['id']}/history").json()
            assert [e["event_id"] for e in h] == expected["history"]["event_ids"]
            assert [e["operation"] for e in h] == expected["history"]["operations"]
        if "idempotency" in expected:
            k = expected["idempotency"]
            retry = node.request("POST", "/users", k["body"], {"Idempotency-Key": k["key"]})
            assert retry.status == 201 and retry.headers.get("idempotency-replayed") == "true", retry.body
            assert retry.json()["id"] == k["id"]
            # Found through memory since 0.5.0: the key index of 0.3.0 and 0.4.0 is gone.
            assert node.query("SELECT count(*) FROM sqlite_master WHERE name = '_cl_idempotency_by_key'") == [(0,)]

        # Queries (0.4.0) work on a database made before them: the users
        # plugin adds their indexes at start-up.
        indexes = {name for (name,) in node.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"users.search.name", "users.search.email", "users.order.created_at",
                "users.order.updated_at"} <= indexes, indexes
        found = node.request("GET", "/users?q=" + expected["users"][0]["email"][:9])
        assert found.status == 200 and expected["users"][0]["id"] in {u["id"] for u in found.json()}, found.body
        newest = node.request("GET", "/users?order=-id&limit=1")
        assert newest.status == 200 and newest.json()[0]["id"] == max(u["id"] for u in expected["users"]), newest.body

        # The old uniqueness still holds, and new writes go on from the old log's end.
        dup = node.create_user("Again", expected["users"][0]["email"])
        assert dup.status == 409, dup.body
        created = node.create_user("After Upgrade", "after-upgrade@example.org")
        assert created.status == 201, created.body
        renamed = node.request("PUT", f"/users/{expected['users'][1]['id']}",
                               {"name": "Renamed Again", "email": expected["users"][1]["email"]})
        assert renamed.status == 200, renamed.body
        gone = node.request("DELETE", f"/users/{expected['users'][2]['id']}")
        assert gone.status == 204, gone.body
        offsets = node.status()["partitions"]
        assert offsets[0]["applied_offset"] == expected["next_offset"] + 4 + ("idempotency" in expected)
        # The plugin that prepared each table is recorded (0.1.0 had no record: its table counts as version 0).
        assert node.query("SELECT table_name, plugin, version FROM _cl_plugins") == [("users", "users", 1)]
        assert node.query("SELECT count(*) FROM _cl_held") == [(0,)]
        assert node.status()["pending_tables"] == []
    finally:
        assert node.stop() == 0, node.log_tail()

    # And it all survives a restart of the new version.
    node.start()
    try:
        names = {u["name"] for u in node.all_users()}
        kept = {u["name"] for u in expected["users"]} - {expected["users"][1]["name"], expected["users"][2]["name"]}
        assert names == kept | {"Renamed Again", "After Upgrade"}
    finally:
        node.stop()
