"""Upgrade in place: a node database written by an earlier release
(tests/fixtures/db/, with what it held when it was made) opened by this
version. Its data, checksum, rejected events and embedded log are intact, and
the node goes on writing where the old one stopped."""

import json
import shutil
from pathlib import Path

from harness import REPO, Node

FIXTURES = REPO / "tests" / "fixtures" / "db"


def test_a_standalone_database_of_release_0_1_0_opens_and_keeps_working(tmp_path):
    expected = json.loads((FIXTURES / "standalone-0.1.0.json").read_text())
    db = tmp_path / "node.db"
    shutil.copy(FIXTURES / "standalone-0.1.0.db", db)
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
        assert offsets[0]["applied_offset"] == expected["next_offset"] + 4
    finally:
        assert node.stop() == 0, node.log_tail()

    # And it all survives a restart of the new version.
    node.start()
    try:
        names = {u["name"] for u in node.all_users()}
        assert names == {"Fixture 1", "Renamed Again", "Fixture 5", "After Upgrade"}
    finally:
        node.stop()
