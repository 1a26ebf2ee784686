"""Tables declared in the config file and served by the schema plugin
(plugins/schema, docs/entities.md): a declared table converges on three
nodes, a unique value raced through two nodes is taken exactly once, a
restart keeps the rows and applies a compatible change of the declaration,
and a bad declaration stops start-up and --check-config with one line."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid

from harness import BINARY, PLUGINS_DIR, REPO, Cluster, Node, wait_converged, wait_until

# The products table of README's example (a JSON Schema declaration).
PRODUCTS = json.loads((REPO / "tests" / "fixtures" / "declared" / "products.json").read_text())


def declaring(tables: dict) -> dict:
    """Node(extra=...) for a node whose schema plugin declares `tables`. The
    harness merges `extra` one level deep: "plugins" keeps its "directory"
    and gains "configure"."""
    return {"plugins": {"configure": {"schema": {"settings": {"tables": tables}}}}}


def start_nodes(cluster: Cluster, count: int, tables: dict | None = None) -> list[Node]:
    tables = tables or {"products": PRODUCTS}
    nodes = []
    for i in range(count):
        node = cluster.add_node(start=False, extra=declaring(tables))
        node.start(wait=(i == 0))  # the first node creates the topic
        nodes.append(node)
    for node in nodes:
        node.wait_healthy()
    return nodes


def sku() -> str:
    return "SKU-" + uuid.uuid4().hex[:10].upper()


def product_rows(node: Node) -> list[tuple]:
    return node.query("SELECT id, sku, name, price_cents, stock, created_at, updated_at FROM products ORDER BY id")


def test_a_declared_table_converges_on_three_nodes(cluster: Cluster):
    nodes = start_nodes(cluster, 3)
    schema = {t["table"]: t for t in nodes[0].request("GET", "/_schema").json()["tables"]}
    assert schema["products"]["plugin"] == "schema" and schema["products"]["version"] == 1, schema["products"]
    assert schema["products"]["schema"]["x-unique"] == ["sku"]
    assert schema["products"]["schema"]["properties"]["id"]["readOnly"] is True

    made = []
    for k in range(24):
        node = nodes[k % 3]
        r = node.request("POST", "/products", {"sku": sku(), "name": f"Product {k}", "price_cents": 100 + k})
        assert r.status == 201, (node.name, r.status, r.body)
        product = r.json()
        assert product["stock"] == 0 and product["price_cents"] == 100 + k
        assert product["created_at"] == product["updated_at"]
        assert r.headers["location"].endswith("/products/" + product["id"])
        made.append(product)

    # A request the declaration refuses: 400 naming the field, on any node.
    r = nodes[1].request("POST", "/products", {"sku": "lower-case", "name": "x", "price_cents": 1})
    assert r.status == 400, r.body
    assert r.json()["field"] == "sku", r.json()
    r = nodes[2].request("POST", "/products", {"sku": sku(), "name": "x"})
    assert r.status == 400 and r.json()["field"] == "price_cents", r.body

    # Updates and deletes through other nodes than the writer.
    first, second = made[0], made[1]
    r = nodes[1].request("PUT", f"/products/{first['id']}",
                         {"sku": first["sku"], "name": "Renamed", "price_cents": 5, "stock": 3})
    assert r.status == 200, r.body
    assert r.json()["name"] == "Renamed" and r.json()["created_at"] == first["created_at"]
    assert nodes[2].request("DELETE", f"/products/{second['id']}").status == 204

    summary = wait_converged(nodes, table="products")
    assert summary["rows"] == len(made) - 1
    rows = product_rows(nodes[0])
    for node in nodes[1:]:
        assert product_rows(node) == rows, node.name
    for node in nodes:
        got = node.request("GET", f"/products/{first['id']}").json()
        assert (got["name"], got["stock"], got["price_cents"]) == ("Renamed", 3, 5), (node.name, got)
        assert node.request("GET", f"/products/{second['id']}").status == 404


def test_one_unique_value_raced_through_two_nodes_is_taken_once(cluster: Cluster):
    n1, n2, n3 = start_nodes(cluster, 3)
    contested = []
    for round_ in range(5):
        value = sku()
        contested.append(value)
        answers: dict[str, object] = {}
        barrier = threading.Barrier(2)

        def post(node: Node) -> None:
            barrier.wait()
            answers[node.name] = node.request("POST", "/products",
                                              {"sku": value, "name": f"Racer {node.name}", "price_cents": 1})

        threads = [threading.Thread(target=post, args=(n,)) for n in (n1, n2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        statuses = sorted(r.status for r in answers.values())
        assert statuses == [201, 409], (round_, {k: (r.status, r.body[:200]) for k, r in answers.items()})
        loser = next(r for r in answers.values() if r.status == 409)
        assert loser.json()["field"] == "sku", loser.json()
        assert "sku is already in use" in loser.json()["detail"], loser.json()

    wait_converged([n1, n2, n3], table="products")
    for node in (n1, n2, n3):
        for value in contested:
            assert node.query("SELECT count(*) FROM products WHERE sku = ?", (value,)) == [(1,)], (node.name, value)
        # Every node reached the same verdict on the losing events.
        rejected = node.query("SELECT count(*) FROM _cl_rejected WHERE reason LIKE '%sku is already in use%'")
        assert rejected == [(len(contested),)], (node.name, rejected)


def test_a_restart_keeps_the_rows_and_applies_a_compatible_change(cluster: Cluster):
    (node,) = start_nodes(cluster, 1)
    ids = []
    for k in range(5):
        r = node.request("POST", "/products", {"sku": sku(), "name": f"Kept {k}", "price_cents": k})
        assert r.status == 201, r.body
        ids.append(r.json()["id"])
    before = {i: node.request("GET", f"/products/{i}").json() for i in ids}

    assert node.stop() == 0
    node.start()
    assert {i: node.request("GET", f"/products/{i}").json() for i in ids} == before

    # Version 2 adds a property with a default: the rows that exist get it.
    v2 = json.loads(json.dumps(PRODUCTS))
    v2["properties"]["currency"] = {"type": "string", "enum": ["EUR", "USD"], "default": "EUR"}
    v2["x-version"] = 2
    node.stop()
    node.extra = declaring({"products": v2})
    node.write_config()
    node.start()
    for i in ids:
        got = node.request("GET", f"/products/{i}").json()
        assert got == {**before[i], "currency": "EUR"}, got
    r = node.request("POST", "/products", {"sku": sku(), "name": "New", "price_cents": 1, "currency": "USD"})
    assert r.status == 201 and r.json()["currency"] == "USD", r.body
    assert node.query("SELECT version FROM _cl_plugins WHERE table_name = 'products'") == [(2,)]

    # An incompatible change (a new required property without a default)
    # stops start-up with one line and changes nothing.
    v3 = json.loads(json.dumps(v2))
    v3["properties"]["weight"] = {"type": "number"}
    v3["required"].append("weight")
    v3["x-version"] = 3
    node.stop()
    node.extra = declaring({"products": v3})
    node.write_config()
    node.start(wait=False)
    wait_until(lambda: not node.running(), 30, "the node to refuse the declaration")
    assert node.proc.returncode == 1
    assert (f"clusterlite: plugin {PLUGINS_DIR}/schema.so: preparing table products failed: table products: new "
            f"required property \"weight\" needs a \"default\" for the rows that exist (or declare it optional)"
            in node.log_tail()), node.log_tail()
    assert node.query("SELECT version FROM _cl_plugins WHERE table_name = 'products'") == [(2,)]
    assert "weight" not in [c[1] for c in node.query("PRAGMA table_info(products)")]


def test_check_config_and_start_up_refuse_a_bad_declaration(cluster: Cluster):
    node = cluster.add_node(start=False, extra=declaring({"products": PRODUCTS}))
    good = subprocess.run([str(BINARY), "--check-config", "--config", str(node.config_path)],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert "plugin(s): schema(products, version 1) users(users, version 1)" in good.stdout, good.stdout

    bad = json.loads(json.dumps(PRODUCTS))
    bad["properties"]["sku"]["oneOf"] = [{"maxLength": 5}, {"minLength": 9}]
    node.extra = declaring({"products": bad})
    node.write_config()
    line = f"clusterlite: plugin {PLUGINS_DIR}/schema.so: factory threw: table products: property sku: " \
           f"unsupported keyword \"oneOf\"\n"
    check = subprocess.run([str(BINARY), "--check-config", "--config", str(node.config_path)],
                           capture_output=True, text=True, timeout=60)
    assert (check.returncode, check.stdout, check.stderr) == (1, "", line)

    node.start(wait=False)
    wait_until(lambda: not node.running(), 30, "the node to refuse the declaration")
    assert node.proc.returncode == 1
    assert line.strip() in node.log_tail(), node.log_tail()
