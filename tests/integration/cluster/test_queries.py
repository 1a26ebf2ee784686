"""Queries on GET /{table} (issue 28): filters, search, orders and keyset
cursors on users and on a declared table, against real nodes and a real
broker. 10,000 rows per table are produced straight into the log; paging
through each in every order while new rows are written never skips or
repeats a row that existed before paging began. Bad parameters are 400s
naming the parameter, and /_schema and /openapi.json list what each table
takes."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.parse
import uuid

import pytest

from harness import Cluster, Node, wait_until

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
ROWS = 10_000

TICKETS = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "priority": {"type": "integer", "minimum": 0},
        "urgent": {"type": "boolean"},
    },
    "required": ["title", "status", "priority"],
    "x-filter": ["status", "priority", "urgent"],
    "x-search": ["title"],
    "x-sort": ["priority", "created_at", "updated_at"],
}


def declaring(tables: dict) -> dict:
    return {"plugins": {"configure": {"schema": {"settings": {"tables": tables}}}}}


def stamp(i: int) -> str:
    # Three rows share each second: ties are broken by id.
    return f"2026-01-01T{(i // 3) // 3600:02d}:{(i // 3) // 60 % 60:02d}:{(i // 3) % 60:02d}Z"


def event(table: str, data: dict, ts: str) -> str:
    return json.dumps({"id": str(uuid.uuid4()), "operation": "INSERT", "table_name": table, "data": data,
                       "timestamp": ts})


def produce(cluster: Cluster, tmp_path, table: str, lines: list[str]) -> None:
    """One message per line, keyed by the table, as nodes produce them."""
    path = tmp_path / f"{table}.events"
    path.write_text("".join(f"{table}\t{line}\n" for line in lines))
    subprocess.run([KCAT, "-P", "-b", cluster.brokers, "-t", cluster.topic, "-K", "\t", "-l",
                    "-X", "partitioner=murmur2_random", str(path)], check=True, timeout=120, capture_output=True)


def get(node: Node, path: str):
    r = node.request("GET", path, timeout=30)
    return r


def next_link(r) -> str | None:
    link = r.headers.get("link")
    if not link:
        return None
    assert link.startswith("</") and link.endswith('>; rel="next"'), link
    return link[1:link.index(">")]


def pages(node: Node, path: str) -> list[dict]:
    """Every row of a listing, following the Link header."""
    rows: list[dict] = []
    url: str | None = path
    while url:
        r = get(node, url)
        assert r.status == 200, (url, r.status, r.body[:300])
        rows.extend(r.json())
        url = next_link(r)
    return rows


def sort_key(order: str):
    field = order.lstrip("-")
    return lambda row: (row[field], row["id"])


def check_order(rows: list[dict], order: str) -> None:
    key = sort_key(order)
    keys = [key(r) for r in rows]
    assert keys == sorted(keys, reverse=order.startswith("-")), f"order={order}: rows out of order"


def problem(node: Node, path: str, parameter: str) -> dict:
    r = get(node, path)
    assert r.status == 400, (path, r.status, r.body[:300])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["field"] == parameter, (path, body)
    return body


@pytest.fixture
def loaded(tmp_path, brokers, topic):
    if KCAT is None:
        pytest.skip("kcat is not installed (./scripts/deps installs it)")
    with Cluster(tmp_path / "cluster", brokers, topic) as cluster:
        node = cluster.add_node(extra=declaring({"tickets": TICKETS}))
        users, tickets = [], []
        for i in range(ROWS):
            uid = f"0190{(i * 7919) % ROWS:08d}-0000-7000-8000-{i:012d}"
            users.append(event("users", {"id": uid, "name": ("Ada " if i % 10 == 0 else "Bob ") + str(i),
                                         "email": ("ADA" if i % 4 == 0 else "zed") + f"{i}@example.org"}, stamp(i)))
            tid = f"0190{(i * 7919) % ROWS:08d}-0000-7000-8000-{i:012d}"
            tickets.append(event("tickets", {"id": tid, "title": ("Printer " if i % 5 == 0 else "Network ") + str(i),
                                             "status": "open" if i % 3 == 0 else "closed", "priority": i % 7,
                                             "urgent": i % 2 == 1}, stamp(i)))
        produce(cluster, tmp_path, "users", users)
        produce(cluster, tmp_path, "tickets", tickets)

        def applied():
            # Local reads answer 200 once the node counts itself ready (caught up).
            counts = [get(node, f"/{t}?limit=1").status for t in ("users", "tickets")]
            return counts == [200, 200] and \
                node.query("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tickets)")[0] == (ROWS, ROWS)
        wait_until(applied, 120, "10,000 users and tickets applied")
        yield cluster, node


def writer(node: Node, table: str, stop: threading.Event, made: list[str]) -> None:
    k = 0
    while not stop.is_set():
        k += 1
        if table == "users":
            body = {"name": f"Ada new {k}", "email": f"ada.new.{k}.{uuid.uuid4().hex[:6]}@example.org"}
        else:
            body = {"title": f"Printer new {k}", "status": "open", "priority": k % 7, "urgent": True}
        r = node.request("POST", f"/{table}", body, timeout=30)
        assert r.status == 201, r.body
        made.append(r.json()["id"])


@pytest.mark.parametrize("table,orders", [
    ("users", ["id", "-id", "created_at", "-created_at", "updated_at", "-updated_at"]),
    ("tickets", ["id", "-id", "priority", "-priority", "created_at", "-created_at", "updated_at", "-updated_at"]),
])
def test_paging_every_order_while_rows_are_written(loaded, table, orders):
    _, node = loaded
    before = {row[0] for row in node.query(f"SELECT id FROM {table}")}
    assert len(before) == ROWS
    stop, made = threading.Event(), []
    t = threading.Thread(target=writer, args=(node, table, stop, made), daemon=True)
    t.start()
    try:
        for order in orders:
            rows = pages(node, f"/{table}?limit=1000&order={order}")
            ids = [r["id"] for r in rows]
            old = [i for i in ids if i in before]
            assert len(old) == len(set(old)) == ROWS, f"order={order}: {len(old)} old rows, {len(set(old))} distinct"
            assert len(ids) == len(set(ids)), f"order={order}: a row was repeated"
            if order.lstrip("-") != "id":
                check_order(rows, order)
            else:
                assert ids == sorted(ids, reverse=order == "-id")
    finally:
        stop.set()
        t.join(timeout=60)
    assert made, "the writer wrote nothing while the pages were read"


def test_users_filters_search_and_orders(loaded):
    _, node = loaded
    # Equality, case-insensitive for users' email and name.
    r = get(node, "/users?email=ada8%40EXAMPLE.org")
    assert r.status == 200 and [u["email"] for u in r.json()] == ["ADA8@example.org"], r.body
    r = get(node, "/users?name=ada+10")
    assert [u["name"] for u in r.json()] == ["Ada 10"]
    r = get(node, "/users?name=Ada+10&email=zed10%40example.org")
    assert len(r.json()) == 1
    assert get(node, "/users?name=Ada+10&email=ada8%40example.org").json() == []
    # Search: prefix of name or email, ignoring case; paged newest first.
    expected = {row[0] for row in node.query(
        "SELECT id FROM users WHERE name LIKE 'ada 1%' OR email LIKE 'ada 1%'")}
    rows = pages(node, "/users?q=ADA+1&order=-created_at&limit=50")
    assert {r["id"] for r in rows} == expected and len(rows) == len(expected) > 50
    check_order(rows, "-created_at")
    rows = pages(node, "/users?q=ada12&limit=7")  # emails ADA12...@
    assert sorted(r["email"] for r in rows) == sorted(e[0] for e in node.query(
        "SELECT email FROM users WHERE email LIKE 'ada12%' OR name LIKE 'ada12%'"))
    # Newest first: the user just created is on the first page.
    made = node.create_user("Newest", f"newest.{uuid.uuid4().hex[:8]}@example.org").json()
    assert get(node, "/users?order=-id&limit=1").json()[0]["id"] == made["id"]
    assert get(node, "/users?order=-created_at&limit=1").json()[0]["id"] == made["id"]
    # A filter pages in id order with after, like the plain list.
    r = get(node, "/users?q=ada&limit=10")
    assert next_link(r).startswith("/users?limit=10&q=ada&after="), r.headers


def test_declared_table_filters_search_and_orders(loaded):
    _, node = loaded
    rows = pages(node, "/tickets?status=open&urgent=true&order=-priority&limit=200")
    expected = node.query("SELECT id FROM tickets WHERE status = 'open' AND urgent = 1 ORDER BY priority DESC, id DESC")
    assert [r["id"] for r in rows] == [e[0] for e in expected]
    rows = pages(node, "/tickets?priority=3&limit=500")
    assert len(rows) == node.query("SELECT count(*) FROM tickets WHERE priority = 3")[0][0]
    assert all(r["priority"] == 3 for r in rows)
    rows = pages(node, "/tickets?q=printer+12&order=created_at")
    assert sorted(r["id"] for r in rows) == sorted(e[0] for e in node.query(
        "SELECT id FROM tickets WHERE title LIKE 'printer 12%'"))
    check_order(rows, "created_at")
    problem(node, "/tickets?priority=high", "priority")
    problem(node, "/tickets?urgent=yes", "urgent")


def test_bad_parameters_are_400_naming_them(loaded):
    _, node = loaded
    body = problem(node, "/users?colour=red", "colour")
    assert "unknown or unindexed field" in body["detail"], body
    problem(node, "/users?created_at=2026-01-01T00:00:00Z", "created_at")  # sortable, not a filter
    problem(node, "/users?order=name", "order")
    problem(node, "/users?order=-", "order")
    problem(node, "/users?order=-created_at&cursor=garbage", "cursor")
    problem(node, "/users?order=-created_at&after=x", "after")
    problem(node, "/users?limit=0", "limit")
    # A cursor of another order, another table, another search.
    link = next_link(get(node, "/users?order=-created_at&limit=5"))
    cursor = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["cursor"][0]
    quoted = urllib.parse.quote(cursor)
    problem(node, f"/users?order=created_at&cursor={quoted}", "cursor")
    problem(node, f"/tickets?order=-created_at&cursor={quoted}", "cursor")
    problem(node, f"/users?order=-created_at&q=ada&cursor={quoted}", "cursor")
    assert get(node, f"/users?order=-created_at&limit=5&cursor={quoted}").status == 200
    # Nothing changed.
    assert node.query("SELECT count(*) FROM users")[0][0] >= ROWS


def test_schema_and_openapi_list_the_query_fields(loaded):
    _, node = loaded
    tables = {t["table"]: t for t in get(node, "/_schema").json()["tables"]}
    assert tables["users"]["filters"] == ["email", "name"]
    assert tables["users"]["search"] == ["name", "email"]
    assert tables["users"]["orders"] == ["id", "-id", "created_at", "-created_at", "updated_at", "-updated_at"]
    assert tables["tickets"]["filters"] == ["status", "priority", "urgent"]
    assert tables["tickets"]["orders"][2:4] == ["priority", "-priority"]
    doc = get(node, "/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/tickets"]["get"]["parameters"] if "name" in p}
    assert params["priority"]["schema"]["type"] == "integer" and params["priority"]["in"] == "query"
    assert params["urgent"]["schema"]["type"] == "boolean"
    assert "-priority" in params["order"]["schema"]["enum"]
    assert "q" in params and "cursor" in params
