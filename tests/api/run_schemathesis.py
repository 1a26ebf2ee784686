#!/usr/bin/env python3
"""Fuzzes a live standalone node with schemathesis against the node's own
description of its API, GET /openapi.json (ctest: api.schemathesis).

Starts `<build>/bin/clusterlite` (CLUSTERLITE_BUILD_DIR, default build/) on a
free port with a temporary database, every plugin of `<build>/plugins` and of
`<build>/example-plugins` (the example notes plugin, which does not describe
its entity, so the generic /{table} paths are fuzzed too) and the web UI,
checks its /openapi.json against the OpenAPI 3.1 schema, then runs
schemathesis (every phase: examples, coverage, fuzzing and stateful, bounded
by CLUSTERLITE_SCHEMATHESIS_SECONDS, default 75) with the checks below, and
stops the node, which must exit cleanly. Every table the node serves is in
the document, so every loaded plugin is fuzzed: when the schema plugin
(plugins/schema, config-declared tables) is built too, it is told to declare
a `products` table, and that table is fuzzed beside `users`.

Needs the environment scripts/test-venv makes (var/venv, or CLUSTERLITE_VENV).
Without it the test is skipped (exit 77), unless
CLUSTERLITE_REQUIRE_SCHEMATHESIS=1 (scripts/test sets it) makes that a
failure. CLUSTERLITE_SCHEMATHESIS_SEED replays a run's seed.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CLUSTERLITE_BUILD_DIR", REPO / "build")).resolve()
VENV = Path(os.environ.get("CLUSTERLITE_VENV", REPO / "var" / "venv"))
SECONDS = int(os.environ.get("CLUSTERLITE_SCHEMATHESIS_SECONDS", "75"))
SKIP = 77

# Every answer: no 5xx, a documented status, media type, body schema and
# headers; other methods 405 with an Allow that lists exactly the documented ones.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
]

# The table the schema plugin declares when it is built (its config:
# plugins.configure.schema.settings.tables, name -> JSON Schema).
PRODUCTS = json.loads((Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "declared" / "products.json")
                      .read_text())


def say(text):
    print(f"api.schemathesis: {text}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def venv_ready():
    python = VENV / "bin" / "python"
    if not (VENV / "bin" / "schemathesis").is_file() or not python.is_file():
        return False
    return subprocess.run([str(python), "-c", "import schemathesis, openapi_spec_validator"],
                          capture_output=True).returncode == 0


def node_config(tmp, port):
    plugins = tmp / "plugins"
    plugins.mkdir()
    for folder in (BUILD / "plugins", BUILD / "example-plugins"):
        for so in sorted(folder.glob("*.so")):
            shutil.copyfile(so, plugins / so.name)
    config = {
        "node_id": "schemathesis-1",
        "mode": "standalone",
        "http": {"address": "127.0.0.1", "port": port, "ui_directory": str(REPO / "web")},
        "database": {"path": str(tmp / "node.db")},
        "plugins": {"directory": str(plugins)},
    }
    if (plugins / "schema.so").is_file():
        config["plugins"]["configure"] = {"schema": {"settings": {"tables": {"products": PRODUCTS}}}}
    return config


def start_node(tmp):
    binary = BUILD / "bin" / "clusterlite"
    if not binary.is_file():
        sys.exit(f"no node binary at {binary} (set CLUSTERLITE_BUILD_DIR)")
    port = free_port()
    (tmp / "node.json").write_text(json.dumps(node_config(tmp, port)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLITE_")}
    log = open(tmp / "node.log", "wb")
    proc = subprocess.Popen([str(binary), "--config", str(tmp / "node.json")], stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            sys.exit(f"the node exited with {proc.returncode}:\n{(tmp / 'node.log').read_text()}")
        try:
            if get(url + "/healthz", timeout=2)[0] == 200:
                return proc, log, url
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"the node was not healthy in 30 s:\n{(tmp / 'node.log').read_text()}")
        time.sleep(0.1)


def stop_node(proc, log, tmp):
    """Stops the node with SIGTERM; a node that crashed, or does not exit cleanly, fails the test."""
    crashed = proc.poll()
    if crashed is None:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "no exit within 30 s"
    log.close()
    if crashed is not None:
        return f"the node died during the run (exit {crashed})"
    if code != 0:
        return f"the node did not exit cleanly on SIGTERM: {code}"
    return None


def check_document(url, tmp):
    """The node's document is valid OpenAPI 3.1 and has paths of their own for the tables it
    describes. Returns those tables."""
    status, body = get(url + "/openapi.json")
    assert status == 200, status
    doc = json.loads(body)
    (tmp / "openapi.json").write_bytes(body)
    validator = subprocess.run(
        [str(VENV / "bin" / "python"), "-c",
         "import json, sys; from openapi_spec_validator import validate; "
         "validate(json.load(open(sys.argv[1])))", str(tmp / "openapi.json")],
        capture_output=True, text=True)
    if validator.returncode != 0:
        sys.exit(f"/openapi.json is not valid OpenAPI 3.1:\n{validator.stderr[-3000:]}")
    tables = json.loads(get(url + "/_schema")[1])["tables"]
    paths = []  # the tables' paths in the document
    for t in tables:
        own = t["schema"] is not None
        for path in (f"/{t['table']}", f"/{t['table']}/{{id}}") if own else ("/{table}", "/{table}/{id}"):
            if path not in doc["paths"]:
                sys.exit(f"/openapi.json has no {path} for table {t['table']}")
            if path not in paths:
                paths.append(path)
    say(f"/openapi.json is valid OpenAPI {doc['openapi']}; tables: "
        + ", ".join(t["table"] + ("" if t["schema"] is not None else " (no schema)") for t in tables))
    return paths, doc


def main():
    if not venv_ready():
        message = f"no schemathesis environment at {VENV}: make it with scripts/test-venv"
        if os.environ.get("CLUSTERLITE_REQUIRE_SCHEMATHESIS") == "1":
            sys.exit(message)
        say(message + " (skipped)")
        return SKIP

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="clusterlite-schemathesis-") as tmp:
        tmp = Path(tmp)
        proc, log, url = start_node(tmp)
        failure = None
        try:
            table_paths, doc = check_document(url, tmp)
            junit = tmp / "junit.xml"
            command = [
                str(VENV / "bin" / "schemathesis"), "--no-color", "run", url + "/openapi.json",
                "--checks", ",".join(CHECKS),
                "--max-time", str(SECONDS),
                "--max-examples", "50",
                "--request-timeout", "20",
                "--report", "junit", "--report-junit-path", str(junit),
            ]
            if os.environ.get("CLUSTERLITE_SCHEMATHESIS_SEED"):
                command += ["--seed", os.environ["CLUSTERLITE_SCHEMATHESIS_SEED"]]
            say(f"schemathesis against {url}/openapi.json for at most {SECONDS} s")
            try:
                run = subprocess.run(command, timeout=SECONDS + 60, env={**os.environ, "NO_COLOR": "1"})
                if run.returncode != 0:
                    failure = f"schemathesis failed (exit {run.returncode}); see its report above"
            except subprocess.TimeoutExpired:
                failure = f"schemathesis ran past {SECONDS + 60} s"
            if failure is None:
                # Every operation of every table was fuzzed.
                tested = {case.get("name") for case in ET.parse(junit).iter("testcase")}
                for path in table_paths:
                    for method in doc["paths"][path]:
                        if method != "parameters" and f"{method.upper()} {path}" not in tested:
                            failure = f"schemathesis did not test {method.upper()} {path}"
        finally:
            stopped = stop_node(proc, log, tmp)
            failure = failure or stopped
            if failure:
                print((tmp / "node.log").read_text()[-4000:])
    say(f"{'FAILED' if failure else 'passed'} in {time.monotonic() - started:.0f} s")
    if failure:
        sys.exit(failure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
