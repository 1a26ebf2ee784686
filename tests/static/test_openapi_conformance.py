"""Checks a live standalone node against docs/openapi.yaml and against the
OpenAPI 3.1 document the node generates itself (GET /openapi.json).

Starts `<build>/bin/clusterlite` (CLUSTERLITE_BUILD_DIR, default build/) on a
free port with a temporary database, API tokens, CORS and a small body limit,
then sends one request per documented path, method and status that a single
healthy node can be made to answer. Each answer must be documented for its
operation, carry a documented media type, validate against the documented
schema and carry the documented required headers, in both documents: in the
contract under its generic path (`/{table}`), in the generated document under
the table's own (`/users`, with the users entity's schemas). Every documented
(path, method, status) of either is provoked here or listed in NOT_PROVOKED
with the reason, so the descriptions and this test change together.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CLUSTERLITE_BUILD_DIR", REPO / "build")).resolve()
SPEC_PATH = REPO / "docs" / "openapi.yaml"

NODE_ID = "conformance-1"
READ_TOKEN = "read-token-0123456789"
WRITE_TOKEN = "write-token-0123456789"
ORIGIN = "http://origin.test"
MAX_BODY = 4096
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Documented answers a single healthy standalone node cannot be made to give.
_FAILURES = "a plugin or read failure (plugins and SQLite do not fail on demand)"
_UNAVAILABLE = "an unreachable broker, a lagging node or a shutdown (tests/fault covers these)"
NOT_PROVOKED = {}
for _path, _methods in {
    "/{table}": ("get", "post"),
    "/{table}/{id}": ("get", "put", "delete"),
    "/_cluster/checksum/{table}": ("get",),
    "/{table}/{id}/history": ("get",),
    "/_cluster/snapshot": ("get",),
}.items():
    for _m in _methods:
        NOT_PROVOKED[(_path, _m, "500")] = _FAILURES
for _path, _methods in {
    "/{table}": ("get", "post"),
    "/{table}/{id}": ("get", "put", "delete"),
    "/healthz": ("get",),
    "/readyz": ("get",),
    "/metrics": ("get",),
    "/_cluster/status": ("get",),
    "/_cluster/checksum/{table}": ("get",),
    "/{table}/{id}/history": ("get",),
    "/": ("get",),
    "/ui": ("get",),
    "/ui/": ("get",),
    "/ui/{file}": ("get",),
    "/_admin/plugins/reload": ("post",),
    "/_schema": ("get",),
}.items():
    for _m in _methods:
        NOT_PROVOKED[(_path, _m, "503")] = _UNAVAILABLE
NOT_PROVOKED[("/_cluster/snapshot", "get", "503")] = (
    "two snapshots in flight or a shutdown (tests/integration/cluster/test_snapshots.py covers the first)")
NOT_PROVOKED[("/openapi.json", "get", "503")] = _UNAVAILABLE
NOT_PROVOKED[("/_changes", "get", "501")] = "a node in shared mode (tests/integration/cluster/test_shared_mode.py)"
# Answers /openapi.json documents for a table's own paths that the contract's generic paths get
# from an unknown table, listed under the contract's path.
NOT_PROVOKED_GENERATED = {
    ("/{table}", "post", "404"): "a plugin that refuses a create with 404 (users never does; "
                                 "the contract's 404 here is an unknown table's)",
}
NOT_PROVOKED[("/ui/", "get", "404")] = "a node without a UI directory (this node serves one)"
for _path, _m in (("/{table}", "post"), ("/{table}/{id}", "put"), ("/{table}/{id}", "delete")):
    NOT_PROVOKED[(_path, _m, "504")] = "a broker that stalls with the write in flight (tests/fault covers it)"


# ---------------------------------------------------------------- the spec


def load_spec():
    with open(SPEC_PATH) as f:
        return yaml.safe_load(f)


def resolve(spec, node):
    """Follows local $refs until `node` is not a reference."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are supported: {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(spec, schema, value, where="body"):
    """A list of errors for `value` against an OpenAPI 3.0 or 3.1 schema (the subset the documents use:
    types, also a list of them, enum, bounds, lengths, pattern, required, properties, additionalProperties,
    items; formats, readOnly and descriptions are not checked)."""
    schema = resolve(spec, schema)
    errors = []
    if not schema:
        return errors
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    if schema.get("nullable"):
        kinds = kinds + ["null"]
    matching = [k for k in kinds if TYPE_CHECKS[k](value)]
    if kinds and not matching:
        return [f"{where}: expected {kinds}, got {type(value).__name__} {value!r:.80}"]
    kind = matching[0] if matching else None
    if kind == "null":
        return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > maximum {schema['maximum']}")
    if kind == "string":
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if kind == "object":
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: required member '{key}' missing")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, member in value.items():
            if key in props:
                errors += validate(spec, props[key], member, f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: member '{key}' is not documented")
            elif isinstance(extra, dict):
                errors += validate(spec, extra, member, f"{where}.{key}")
    if kind == "array":
        for i, item in enumerate(value):
            errors += validate(spec, schema.get("items", {}), item, f"{where}[{i}]")
    return errors


def documented_statuses(spec):
    """{(path, method, status)} for every response the spec documents."""
    out = set()
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                for status in resolve(spec, item[method])["responses"]:
                    out.add((path, method, str(status)))
    return out


# ---------------------------------------------------------------- the node


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Answer:
    def __init__(self, status, headers, body, path=""):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body
        self.path = path  # the request's target

    def json(self):
        return json.loads(self.body)


class Node:
    def __init__(self, port, plugins_dir=None):
        self.port = port
        self.plugins_dir = plugins_dir  # the node's own plugins directory

    def request(self, method, path, body=None, headers=None, token=WRITE_TOKEN, content_type="application/json"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            h = {}
            if token:
                h["Authorization"] = f"Bearer {token}"
            if body is not None:
                if not isinstance(body, (bytes, str)):
                    body = json.dumps(body)
                if isinstance(body, str):
                    body = body.encode()
                if content_type:
                    h["Content-Type"] = content_type
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, data, path)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def node():
    binary = BUILD / "bin" / "clusterlite"
    assert binary.is_file(), f"no node binary at {binary} (set CLUSTERLITE_BUILD_DIR)"
    with tempfile.TemporaryDirectory(prefix="clusterlite-openapi-") as tmp:
        tmp = Path(tmp)
        # A plugins directory of its own, so the reload route can be shown a broken file.
        plugins = tmp / "plugins"
        plugins.mkdir()
        (plugins / "users.so").write_bytes((BUILD / "plugins" / "users.so").read_bytes())
        ui = tmp / "ui"
        ui.mkdir()
        (ui / "index.html").write_text("<!doctype html><title>ui</title>\n")
        (ui / "app.js").write_text("export const ok = true;\n")
        (ui / "style.css").write_text("body { margin: 0; }\n")
        port = int(os.environ.get("CLUSTERLITE_TEST_PORT") or free_port())
        config = {
            "node_id": NODE_ID,
            "mode": "standalone",
            "http": {
                "address": "127.0.0.1",
                "port": port,
                "max_body_bytes": MAX_BODY,
                "cors_origins": [ORIGIN],
                "ui_directory": str(ui),
            },
            "database": {"path": str(tmp / "node.db")},
            "auth": {"read_tokens": [READ_TOKEN], "write_tokens": [WRITE_TOKEN]},
            "plugins": {"directory": str(plugins)},
            "changes": {"max_subscribers": 1},
        }
        (tmp / "node.json").write_text(json.dumps(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
        log = open(tmp / "node.log", "wb")
        proc = subprocess.Popen([str(binary), "--config", str(tmp / "node.json")], stdout=log, stderr=log, env=env)
        n = Node(port, plugins)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, f"node exited: {(tmp / 'node.log').read_text()}"
                try:
                    if n.request("GET", "/healthz", token=None).status == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"node not healthy in 30 s: {(tmp / 'node.log').read_text()}"
                time.sleep(0.1)
            yield n
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                assert proc.wait(timeout=20) == 0, f"node did not exit cleanly: {(tmp / 'node.log').read_text()}"
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
            finally:
                log.close()


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def generated(node):
    """The node's own description of its API (GET /openapi.json)."""
    a = node.request("GET", "/openapi.json", token=READ_TOKEN)
    assert a.status == 200, a.body[:300]
    doc = a.json()
    assert doc["openapi"] == "3.1.0"
    return doc


# ---------------------------------------------------------------- checking answers


def methods_served(spec, path):
    """The methods a path of `spec` documents with an answer other than 405, upper-case."""
    item = spec["paths"][path]
    return {m.upper() for m in METHODS
            if m in item and any(s != "405" for s in resolve(spec, item[m])["responses"])}


class Conformance:
    """Checks answers against the contract and the node's generated document, and records which
    documented answers were seen in each."""

    def __init__(self, spec, generated):
        self.spec = spec
        self.generated = generated
        self.seen = set()  # (contract path, method, status)
        self.seen_generated = set()  # (generated path, method, status)

    def generated_path(self, answer, path):
        """Where the generated document describes the answer's request: a table's own paths for a
        table it describes, the generic ones for a table it does not, nothing for an unknown table."""
        if path not in ("/{table}", "/{table}/{id}"):
            return path
        table = answer.path.split("?")[0].split("/")[1]
        own = f"/{table}" + ("/{id}" if path == "/{table}/{id}" else "")
        if own in self.generated["paths"]:
            return own
        generic = self.generated["paths"].get(path)
        if generic and table in generic["parameters"][0]["schema"].get("enum", []):
            return path
        return None

    def check(self, answer, path, method, expect):
        where = f"{method.upper()} {path} -> {answer.status}"
        assert answer.status == expect, f"{where}: expected {expect}; body {answer.body[:300]!r}"
        assert answer.headers.get("x-clusterlite-node") == NODE_ID, f"{where}: X-ClusterLite-Node missing"
        self.seen.add(self.check_in(self.spec, answer, path, method, "docs/openapi.yaml"))
        gen_path = self.generated_path(answer, path)
        if gen_path is None:
            return
        if answer.status == 405:
            # The generated document leaves out operations that only answer 405: the method is
            # not listed, and Allow names exactly the ones that are.
            assert method not in self.generated["paths"][gen_path], f"{where}: a 405 operation in /openapi.json"
            self.check_allow(answer, gen_path, self.generated)
            return
        self.seen_generated.add(self.check_in(self.generated, answer, gen_path, method, "/openapi.json"))

    def check_in(self, spec, answer, path, method, name):
        where = f"{method.upper()} {path} -> {answer.status} ({name})"
        item = spec["paths"][path]
        assert method in item, f"{where}: method not documented"
        responses = resolve(spec, item[method])["responses"]
        status = str(answer.status)
        assert status in responses, f"{where}: status not documented (documented: {sorted(responses)})"
        doc = resolve(spec, responses[status])
        for header_name, header in doc.get("headers", {}).items():
            if resolve(spec, header).get("required"):
                assert header_name.lower() in answer.headers, f"{where}: required header {header_name} missing"

        content = doc.get("content")
        if not content:
            assert answer.body == b"", f"{where}: documented without a body, got {answer.body[:100]!r}"
            return path, method, status
        media = answer.headers.get("content-type", "").split(";")[0].strip()
        assert media in content, f"{where}: Content-Type {media!r} not documented ({sorted(content)})"
        if media.endswith("json"):
            value = answer.json()
            errors = validate(spec, content[media].get("schema", {}), value)
            assert not errors, f"{where}: " + "; ".join(errors)
        return path, method, status

    def check_allow(self, answer, path, spec=None):
        """A 405's (or an OPTIONS answer's) Allow lists exactly the methods documented with a non-405
        answer."""
        spec = spec or self.spec
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        documented = methods_served(spec, path)
        assert allowed == documented, f"{path}: Allow {sorted(allowed)} but documented {sorted(documented)}"


def generic_path(generated, path):
    """The contract's path for a path of the generated document: `/users` -> `/{table}` for a table
    it describes (one with a `users.create` schema), the same path otherwise."""
    parts = path.split("/")
    if f"{parts[1]}.create" in generated["components"]["schemas"]:
        return "/{table}" if len(parts) == 2 else "/{table}/{id}"
    return path


def user(n):
    return {"name": f"User {n}", "email": f"user{n}@example.com"}


def test_live_node_matches_openapi(node, spec, generated):
    c = Conformance(spec, generated)

    # Operations routes.
    c.check(node.request("GET", "/healthz", token=None), "/healthz", "get", 200)
    c.check(node.request("GET", "/readyz", token=None), "/readyz", "get", 200)
    c.check(node.request("GET", "/metrics", token=None), "/metrics", "get", 200)
    c.check(node.request("GET", "/_cluster/status", token=None), "/_cluster/status", "get", 200)
    for path in ("/healthz", "/readyz", "/metrics", "/_cluster/status"):
        a = node.request("POST", path, body={})
        c.check(a, path, "post", 405)
        c.check_allow(a, path)

    # UI and redirects.
    for path in ("/", "/ui"):
        a = node.request("GET", path, token=None)
        c.check(a, path, "get", 302)
        assert a.headers["location"] == "/ui/"
    c.check(node.request("GET", "/ui/", token=None), "/ui/", "get", 200)
    for name in ("index.html", "app.js", "style.css"):
        c.check(node.request("GET", f"/ui/{name}", token=None), "/ui/{file}", "get", 200)
    c.check(node.request("GET", "/ui/missing.js", token=None), "/ui/{file}", "get", 404)
    for path, template in (("/ui/", "/ui/"), ("/ui/app.js", "/ui/{file}")):
        a = node.request("POST", path, body={})
        c.check(a, template, "post", 405)
        c.check_allow(a, template)

    # Creating, listing and paging.
    created = []
    for n in range(3):
        a = node.request("POST", "/users", body=user(n))
        c.check(a, "/{table}", "post", 201)
        assert a.headers["location"] == f"/users/{a.json()['id']}"
        created.append(a.json())
    a = node.request("POST", "/users", body=user(10), headers={"Prefer": "respond-async"})
    c.check(a, "/{table}", "post", 202)
    c.check(node.request("GET", "/users"), "/{table}", "get", 200)
    a = node.request("GET", "/users?limit=1")
    c.check(a, "/{table}", "get", 200)
    assert 'rel="next"' in a.headers["link"]
    next_page = re.match(r"<([^>]+)>", a.headers["link"]).group(1)
    c.check(node.request("GET", next_page), "/{table}", "get", 200)
    c.check(node.request("GET", "/users?consistency=strong", token=READ_TOKEN), "/{table}", "get", 200)
    for query in ("limit=0", "limit=abc", "limit=1001", "consistency=eventual", "after=%00"):
        c.check(node.request("GET", f"/users?{query}"), "/{table}", "get", 400)
    c.check(node.request("GET", "/users", token=None), "/{table}", "get", 401)
    c.check(node.request("GET", "/users", token="not-a-valid-token-at-all"), "/{table}", "get", 401)
    c.check(node.request("GET", "/nosuch"), "/{table}", "get", 404)

    # Bad writes to the collection.
    c.check(node.request("POST", "/users", body="{not json"), "/{table}", "post", 400)
    a = node.request("POST", "/users", body={"name": "x", "email": "not-an-email"})
    c.check(a, "/{table}", "post", 400)
    assert a.json().get("field") == "email"
    c.check(node.request("POST", "/users", body=user(20), token=None), "/{table}", "post", 401)
    c.check(node.request("POST", "/users", body=user(20), token=READ_TOKEN), "/{table}", "post", 403)
    c.check(node.request("POST", "/nosuch", body=user(20)), "/{table}", "post", 404)
    a = node.request("POST", "/users", body=user(0))
    c.check(a, "/{table}", "post", 409)
    assert a.json().get("field") == "email"
    big = {"name": "n" * (MAX_BODY + 100), "email": "big@example.com"}
    c.check(node.request("POST", "/users", body=big), "/{table}", "post", 413)
    c.check(node.request("POST", "/users", body=user(21), content_type="text/plain"), "/{table}", "post", 415)
    for method in ("PUT", "DELETE", "PATCH"):
        a = node.request(method, "/users", body={})
        c.check(a, "/{table}", method.lower(), 405)
        c.check_allow(a, "/{table}")

    # One entity.
    first, second, third = created
    item = f"/users/{first['id']}"
    missing = "/users/00000000-0000-4000-8000-000000000000"
    c.check(node.request("GET", item), "/{table}/{id}", "get", 200)
    c.check(node.request("GET", item + "?consistency=strong"), "/{table}/{id}", "get", 200)
    c.check(node.request("GET", "/users/%00"), "/{table}/{id}", "get", 400)
    c.check(node.request("GET", item + "?consistency=maybe"), "/{table}/{id}", "get", 400)
    c.check(node.request("GET", item, token=None), "/{table}/{id}", "get", 401)
    c.check(node.request("GET", missing), "/{table}/{id}", "get", 404)
    c.check(node.request("GET", f"/nosuch/{first['id']}"), "/{table}/{id}", "get", 404)

    c.check(node.request("PUT", item, body={"name": "Renamed", "email": first["email"]}), "/{table}/{id}", "put", 200)
    c.check(node.request("PUT", item, body=user(30), headers={"Prefer": "respond-async"}), "/{table}/{id}", "put", 202)
    c.check(node.request("PUT", item, body={"name": "", "email": "e@example.com"}), "/{table}/{id}", "put", 400)
    c.check(node.request("PUT", item, body=user(31), token=None), "/{table}/{id}", "put", 401)
    c.check(node.request("PUT", item, body=user(31), token=READ_TOKEN), "/{table}/{id}", "put", 403)
    c.check(node.request("PUT", missing, body=user(31)), "/{table}/{id}", "put", 404)
    c.check(node.request("PUT", f"/users/{second['id']}", body=user(2)), "/{table}/{id}", "put", 409)
    c.check(node.request("PUT", item, body=big), "/{table}/{id}", "put", 413)
    c.check(node.request("PUT", item, body=user(32), content_type="text/plain"), "/{table}/{id}", "put", 415)

    # Idempotency-Key: a retry gets the first answer; the key with another request, 422.
    keyed = {"Idempotency-Key": "conformance-create-1"}
    a = node.request("POST", "/users", body=user(40), headers=keyed)
    c.check(a, "/{table}", "post", 201)
    b = node.request("POST", "/users", body=user(40), headers=keyed)
    c.check(b, "/{table}", "post", 201)
    assert b.headers.get("idempotency-replayed") == "true" and b.json() == a.json()
    assert b.headers["location"] == a.headers["location"]
    c.check(node.request("POST", "/users", body=user(41), headers=keyed), "/{table}", "post", 422)
    c.check(node.request("POST", "/users", body=user(41), headers={"Idempotency-Key": ""}), "/{table}", "post", 400)
    c.check(node.request("PUT", f"/users/{third['id']}", body=user(42), headers=keyed), "/{table}/{id}", "put", 422)
    c.check(node.request("DELETE", f"/users/{third['id']}", headers=keyed), "/{table}/{id}", "delete", 422)

    # An entity's history.
    history = f"{item}/history"
    a = node.request("GET", history + "?limit=1")
    c.check(a, "/{table}/{id}/history", "get", 200)
    assert [e["operation"] for e in a.json()] == ["INSERT"] and 'rel="next"' in a.headers["link"]
    c.check(node.request("GET", history + "?limit=0"), "/{table}/{id}/history", "get", 400)
    c.check(node.request("GET", history + "?after=no-such-event"), "/{table}/{id}/history", "get", 400)
    c.check(node.request("GET", history, token=None), "/{table}/{id}/history", "get", 401)
    c.check(node.request("GET", missing + "/history"), "/{table}/{id}/history", "get", 404)
    a = node.request("POST", history, body={})
    c.check(a, "/{table}/{id}/history", "post", 405)
    c.check_allow(a, "/{table}/{id}/history")

    c.check(node.request("DELETE", "/users/%00"), "/{table}/{id}", "delete", 400)
    c.check(node.request("DELETE", item, token=None), "/{table}/{id}", "delete", 401)
    c.check(node.request("DELETE", item, token=READ_TOKEN), "/{table}/{id}", "delete", 403)
    c.check(node.request("DELETE", missing), "/{table}/{id}", "delete", 404)
    c.check(node.request("DELETE", item), "/{table}/{id}", "delete", 204)
    a = node.request("DELETE", f"/users/{second['id']}", headers={"Prefer": "respond-async"})
    c.check(a, "/{table}/{id}", "delete", 202)
    for method in ("POST", "PATCH"):
        a = node.request(method, f"/users/{third['id']}", body={})
        c.check(a, "/{table}/{id}", method.lower(), 405)
        c.check_allow(a, "/{table}/{id}")

    # Cluster checksum.
    c.check(node.request("GET", "/_cluster/checksum/users", token=READ_TOKEN), "/_cluster/checksum/{table}", "get", 200)
    c.check(node.request("GET", "/_cluster/checksum/users", token=None), "/_cluster/checksum/{table}", "get", 401)
    c.check(node.request("GET", "/_cluster/checksum/nosuch"), "/_cluster/checksum/{table}", "get", 404)
    a = node.request("POST", "/_cluster/checksum/users", body={})
    c.check(a, "/_cluster/checksum/{table}", "post", 405)
    c.check_allow(a, "/_cluster/checksum/{table}")

    # The change stream: its head (the body goes on until the connection closes), the one
    # stream changes.max_subscribers allows, then 503 while it is open.
    def stream_head(path, token=READ_TOKEN):
        sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        head = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
        return sock, Answer(int(head[0].split()[1]), {k.lower(): v.strip() for k, v in
                                                      (line.split(":", 1) for line in head[1:])}, b"", path)
    sock, a = stream_head("/_changes?tables=users")
    assert a.status == 200 and a.headers["content-type"] == "text/event-stream", a.headers
    assert a.headers["x-clusterlite-node"] == NODE_ID
    c.seen.add(("/_changes", "get", "200"))
    c.seen_generated.add(("/_changes", "get", "200"))
    busy = node.request("GET", "/_changes", token=READ_TOKEN)
    c.check(busy, "/_changes", "get", 503)
    assert busy.headers.get("retry-after")
    sock.close()
    c.check(node.request("GET", "/_changes?tables=users", headers={"Last-Event-ID": "x"}), "/_changes", "get", 400)
    c.check(node.request("GET", "/_changes?tables=Users"), "/_changes", "get", 400)
    c.check(node.request("GET", "/_changes?tables=nosuch"), "/_changes", "get", 404)
    c.check(node.request("GET", "/_changes", token=None), "/_changes", "get", 401)
    a = node.request("POST", "/_changes", body={})
    c.check(a, "/_changes", "post", 405)
    c.check_allow(a, "/_changes")

    # The tables and their schemas.
    a = node.request("GET", "/_schema", token=READ_TOKEN)
    c.check(a, "/_schema", "get", 200)
    users = [t for t in a.json()["tables"] if t["table"] == "users"][0]
    assert users["schema"]["x-unique"] == ["email"] and len(users["schema_sha256"]) == 16
    c.check(node.request("GET", "/_schema", token=None), "/_schema", "get", 401)
    a = node.request("POST", "/_schema", body={})
    c.check(a, "/_schema", "post", 405)
    c.check_allow(a, "/_schema")

    # The node's own OpenAPI document: read access, like /_schema.
    a = node.request("GET", "/openapi.json", token=READ_TOKEN)
    c.check(a, "/openapi.json", "get", 200)
    assert a.json() == generated, "the document changed without a plugin reload"
    c.check(node.request("GET", "/openapi.json", token=None), "/openapi.json", "get", 401)
    a = node.request("POST", "/openapi.json", body={})
    c.check(a, "/openapi.json", "post", 405)
    c.check_allow(a, "/openapi.json")

    # Methods HTTP does not define, and HEAD: 405 with Allow like any method a path does not
    # serve (Pistache refused the first with a plain-text 400, and HEAD answers carried a body).
    for method, path, template in (("BREW", "/users", "/{table}"), ("QUERY", f"/users/{first['id']}", "/{table}/{id}"),
                                   ("QUERY", "/healthz", "/healthz"), ("HEAD", "/openapi.json", "/openapi.json")):
        a = node.request(method, path)
        assert a.status == 405, (method, path, a.status, a.body[:200])
        c.check_allow(a, template)
        if method == "HEAD":
            assert a.body == b"", f"HEAD {path}: a body {a.body[:100]!r}"
        else:
            assert a.headers["content-type"] == "application/problem+json", (method, path)
            assert a.json()["status"] == 405
    # A header Pistache cannot parse (a Cookie without name=value) is the request's fault: 400
    # problem+json on any path (it was a plain-text 500).
    for path in ("/healthz", "/users"):
        a = node.request("GET", path, headers={"Cookie": "no-equals-sign"})
        assert a.status == 400 and a.headers["content-type"] == "application/problem+json", (path, a.status)
        assert a.headers.get("x-clusterlite-node") == NODE_ID
    # ...but a method no path serves is answered by its method first.
    a = node.request("QUERY", "/users", body={}, headers={"Cookie": "no-equals-sign"})
    assert a.status == 405 and a.headers["allow"] == "GET, POST, OPTIONS", (a.status, a.body[:200])

    # Live plugin reload: a write token; a broken file changes nothing.
    reload = "/_admin/plugins/reload"
    c.check(node.request("POST", reload, token=None), reload, "post", 401)
    c.check(node.request("POST", reload, token=READ_TOKEN), reload, "post", 403)
    a = node.request("POST", reload)
    c.check(a, reload, "post", 200)
    assert [(p["table"], p["change"]) for p in a.json()["plugins"]] == [("users", "unchanged")]
    (node.plugins_dir / "broken.so").write_text("not a shared object")
    a = node.request("POST", reload)
    c.check(a, reload, "post", 422)
    assert "broken.so: not an ELF shared object" in a.json()["detail"]
    (node.plugins_dir / "broken.so").unlink()
    c.check(node.request("GET", "/users", token=READ_TOKEN), "/{table}", "get", 200)

    # A snapshot: a write token; the body is the database its headers describe.
    snap = "/_cluster/snapshot"
    c.check(node.request("GET", snap, token=None), snap, "get", 401)
    c.check(node.request("GET", snap, token=READ_TOKEN), snap, "get", 403)
    a = node.request("GET", snap)
    c.check(a, snap, "get", 200)
    digest = base64.b64encode(hashlib.sha256(a.body).digest()).decode()
    assert a.headers["repr-digest"] == f"sha-256=:{digest}:"
    assert a.headers["content-type"] == "application/vnd.sqlite3" and a.body.startswith(b"SQLite format 3\0")
    a = node.request("POST", snap, body={})
    c.check(a, snap, "post", 405)
    c.check_allow(a, snap)

    # CORS preflight on every documented path.
    concrete = {
        "/{table}": "/users",
        "/{table}/{id}": f"/users/{third['id']}",
        "/_cluster/checksum/{table}": "/_cluster/checksum/users",
        "/ui/{file}": "/ui/app.js",
    }
    for template, item in spec["paths"].items():
        if "options" not in item:
            continue
        path = concrete.get(template, template)
        plain = node.request("OPTIONS", path, token=None)
        c.check(plain, template, "options", 204)
        # Allow: the methods the path serves (it listed GET, POST, PUT, DELETE everywhere).
        c.check_allow(plain, template)
        assert "access-control-allow-origin" not in plain.headers, f"{path}: CORS headers without an Origin"
        cors = node.request(
            "OPTIONS",
            path,
            token=None,
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        c.check(cors, template, "options", 204)
        assert cors.headers.get("access-control-allow-origin") == ORIGIN
        assert cors.headers.get("access-control-allow-methods") == cors.headers["allow"], path
        other = node.request("OPTIONS", path, token=None, headers={"Origin": "http://elsewhere.test"})
        assert "access-control-allow-origin" not in other.headers, f"{path}: CORS allowed a foreign origin"

    # Every documented answer was provoked or is listed with its reason; nothing else is listed.
    documented = documented_statuses(spec)
    unseen = documented - c.seen - set(NOT_PROVOKED)
    assert not unseen, f"documented but neither provoked nor listed in NOT_PROVOKED: {sorted(unseen)}"
    stale = set(NOT_PROVOKED) - documented
    assert not stale, f"NOT_PROVOKED lists answers the spec does not document: {sorted(stale)}"
    provoked_anyway = set(NOT_PROVOKED) & c.seen
    assert not provoked_anyway, f"NOT_PROVOKED lists answers this test provoked: {sorted(provoked_anyway)}"

    # The same for the generated document, whose table paths are the contract's under the table's
    # name: it documents nothing the contract does not, and every answer it documents was
    # provoked (checked against it) or is listed in NOT_PROVOKED under the contract's path.
    in_generated = {(generic_path(generated, p), m, s) for p, m, s in documented_statuses(generated)}
    invented = in_generated - documented
    assert not invented, f"/openapi.json documents answers docs/openapi.yaml does not: {sorted(invented)}"
    seen_generated = {(generic_path(generated, p), m, s) for p, m, s in c.seen_generated}
    unseen = in_generated - seen_generated - set(NOT_PROVOKED) - set(NOT_PROVOKED_GENERATED)
    assert not unseen, f"documented in /openapi.json but neither provoked nor listed: {sorted(unseen)}"
    assert not set(NOT_PROVOKED_GENERATED) & seen_generated, "NOT_PROVOKED_GENERATED lists a provoked answer"
    # It leaves out only the operations that answer 405 alone, and a known table's list's 404.
    left_out = {(p, m, s) for p, m, s in documented if s != "405"} - in_generated
    assert left_out == {("/{table}", "get", "404")}, f"/openapi.json leaves out: {sorted(left_out)}"


def test_spec_references_resolve(spec):
    """Every $ref in the description points at something."""

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(spec, node)
                except KeyError as e:
                    pytest.fail(f"{where}: dangling $ref {node['$ref']} ({e})")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(spec, "#")


def test_spec_names_every_path_the_router_serves(spec):
    """Every route of the node's route table (`clusterlite --routes`, the list
    the router matches against) is documented, with its method."""
    out = subprocess.run([str(BUILD / "bin" / "clusterlite"), "--routes"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    routes = json.loads(out)
    assert routes, "clusterlite --routes printed no routes"
    for route in routes:
        path, method = route["path"], route["method"].lower()
        assert path in spec["paths"], f"served but not in docs/openapi.yaml: {path}"
        assert method in spec["paths"][path], f"served but not in docs/openapi.yaml: {route['method']} {path}"
