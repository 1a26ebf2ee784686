"""Replica mode: every node applies the whole log and reaches the same state."""

import uuid

from harness import Cluster, wait_converged, wait_until


def test_writes_through_each_node_are_readable_on_the_others(cluster3: Cluster):
    nodes = cluster3.nodes
    created = []  # (writer index, id, email)
    for round_ in range(5):
        for i, node in enumerate(nodes):
            email = f"u{round_}-{i}-{uuid.uuid4().hex[:8]}@example.org"
            r = node.create_user(f"User {round_} {i}", email)
            assert r.status == 201, r.body
            user = r.json()
            # Read-your-writes on the node that took the write.
            assert node.request("GET", f"/users/{user['id']}").status == 200
            created.append((i, user["id"], email))

    for writer, user_id, email in created:
        for j, other in enumerate(nodes):
            if j == writer:
                continue
            r = wait_until(lambda: (lambda res: res if res.status == 200 else None)(
                other.request("GET", f"/users/{user_id}")), 20, f"{user_id} on {other.name}")
            assert r.json()["email"] == email

    # Updates and deletes converge too.
    _, first_id, _ = created[0]
    r = nodes[1].request("PUT", f"/users/{first_id}", {"name": "Renamed", "email": created[0][2]})
    assert r.status == 200, r.body
    _, second_id, _ = created[1]
    assert nodes[2].request("DELETE", f"/users/{second_id}").status == 204

    summary = wait_converged(nodes)
    assert summary["rows"] == len(created) - 1
    for node in nodes:
        users = {u["id"]: u for u in node.all_users()}
        assert len(users) == len(created) - 1
        assert users[first_id]["name"] == "Renamed"
        assert second_id not in users


def test_stopped_node_catches_up_and_new_node_replays_everything(cluster3: Cluster):
    n1, n2, n3 = cluster3.nodes
    assert n1.create_user("Before", f"before-{uuid.uuid4().hex[:8]}@example.org").status == 201
    wait_converged(cluster3.nodes)

    assert n3.stop() == 0, "a node stopped with SIGTERM exits 0"
    ids = []
    for k in range(30):
        r = (n1 if k % 2 else n2).create_user(f"While down {k}", f"down-{k}-{uuid.uuid4().hex[:8]}@example.org")
        assert r.status == 201, r.body
        ids.append(r.json()["id"])
    assert n2.request("DELETE", f"/users/{ids[0]}").status == 204
    assert n1.request("PUT", f"/users/{ids[1]}", {"name": "Changed", "email": "changed@example.org"}).status == 200
    assert not n3.running()

    n3.start()
    summary = wait_converged([n1, n2, n3])
    assert summary["rows"] == 1 + 30 - 1
    assert n3.request("GET", f"/users/{ids[0]}").status == 404
    assert n3.request("GET", f"/users/{ids[1]}").json()["email"] == "changed@example.org"

    fresh = cluster3.add_node()  # an empty database: replays the log from offset 0
    replayed = wait_converged([n1, n2, n3, fresh])
    assert replayed["checksum"] == summary["checksum"]
    assert fresh.query("SELECT count(*) FROM users")[0][0] == summary["rows"]
