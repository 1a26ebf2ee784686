#!/usr/bin/env python3
"""The limits ClusterLite's benchmark numbers are compared with.

Each benchmark target is reported next to the matching limit measured in the
same run, on the same machine: what the pieces ClusterLite is built on can do
with no ClusterLite code in the way.

  - Pistache 0.0.5 with a trivial handler (bench/limits/limit_http.cc,
    configured like a node: threads, request size limits, timeouts and the
    node's keep-alive handling), driven by wrk with 32 connections, once
    without a Connection header (as nginx's keep-alive upstreams send) and
    once with `Connection: keep-alive`;
  - nginx serving a small static file, the same wrk load, with
    `worker_processes 1` and with `worker_processes auto`;
  - SQLite doing the applier's writes (bench/limits/limit_sqlite.cc): the
    node's writer pragmas (WAL, synchronous=NORMAL, wal_autocheckpoint=10000,
    a 16 MiB page cache), the users table WITHOUT ROWID, and per transaction
    BEGIN IMMEDIATE, per event the users plugin's one INSERT, one
    _cl_offsets upsert, COMMIT (a batch in which every event applies); with time-ordered UUIDv7 ids at 1,
    100 and 1,000 events per transaction, and with random UUIDv4 ids at 1,000
    events per transaction to show what random keys cost.

Use it from another harness:

    from limits import measure_limits
    rows = measure_limits(Path("build"), 10, log)   # [(measure, value), ...]

or alone, which prints a Markdown table:

    python3 bench/limits.py --build-dir build --duration 5

Servers listen on free ports in 127.0.0.1:18700-18799. Everything it starts is
stopped before it returns, also on errors; its files live in a temporary
folder (under --work-dir if given) that is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(18700, 18800)
CONNECTIONS = 32
WRK_THREADS = 2
HTTP_TOOL = "clusterlite-limit-http"
SQLITE_TOOL = "clusterlite-limit-sqlite"
BODY = b'{"status":"ok"}'
SQLITE_BATCHES = (1, 100, 1000)  # events per transaction, UUIDv7 ids
SQLITE_RANDOM_IDS_BATCH = 1000  # the measure with random UUIDv4 ids

Log = Callable[[str], None]


class LimitsError(RuntimeError):
    """A limit could not be measured."""


def tool(build_dir: Path, name: str) -> Path:
    path = Path(build_dir) / "bin" / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LimitsError(
            f"{path} is missing: build the benchmark tools with `cmake --build {build_dir}` "
            f"(they are in bench/limits, built when CLUSTERLITE_BUILD_BENCH is ON)"
        )
    return path


# --- processes ---------------------------------------------------------------


def start(cmd: list[str], out: Path) -> subprocess.Popen:
    """Starts `cmd` in its own session (so its children can be stopped with it), output to `out`."""
    with open(out, "wb") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stops a process started by start() and every process of its group: SIGTERM, then SIGKILL."""
    pgid = proc.pid  # start_new_session: the process leads its own group
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        if proc.poll() is None or group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not group_alive(pgid):
                return
            time.sleep(0.02)
    proc.poll()


@contextlib.contextmanager
def running(cmd: list[str], out: Path) -> Iterator[subprocess.Popen]:
    proc = start(cmd, out)
    try:
        yield proc
    finally:
        stop(proc)


# --- ports and HTTP ----------------------------------------------------------


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return False  # something listens there
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(used: set[int]) -> Iterator[int]:
    for port in PORTS:
        if port not in used and port_free(port):
            used.add(port)
            yield port


def get(port: int, path: str) -> http.client.HTTPResponse:
    """One GET without a Connection header; returns the response with its body read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.body = resp.read()  # type: ignore[attr-defined]
        return resp
    finally:
        conn.close()


def wait_serving(proc: subprocess.Popen, port: int, path: str, out: Path, what: str, bound: float = 10) -> str:
    """Waits until `proc` answers GET `path` with our body; returns the Connection header of the answer."""
    deadline = time.monotonic() + bound
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LimitsError(f"{what} exited with status {proc.returncode}: {tail(out)}")
        try:
            resp = get(port, path)
            if resp.status == 200 and resp.body == BODY:  # type: ignore[attr-defined]
                return resp.getheader("Connection", "(none)")
            last = f"answered {resp.status} {resp.body[:200]!r}"  # type: ignore[attr-defined]
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    raise LimitsError(f"{what} did not serve {path} on port {port} within {bound:.0f} s ({last}): {tail(out)}")


def tail(path: Path, lines: int = 10) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:]) or "(no output)"
    except OSError:
        return "(no output)"


def wrk(port: int, path: str, duration: int, headers: list[str], out: Path) -> dict[str, float]:
    exe = shutil.which("wrk")
    if not exe:
        raise LimitsError("wrk is not installed (scripts/deps installs it)")
    cmd = [exe, "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{duration}s"]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    proc = start(cmd, out)
    try:
        proc.wait(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        raise LimitsError(f"wrk did not finish within {duration + 30} s")
    finally:
        stop(proc)
    text = out.read_text(errors="replace")
    if proc.returncode != 0:
        raise LimitsError(f"wrk failed ({proc.returncode}): {tail(out)}")
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if not m:
        raise LimitsError(f"no Requests/sec in wrk's output: {tail(out)}")
    result = {"rps": float(m.group(1)), "errors": 0.0}
    if m := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text):
        result["errors"] += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        result["errors"] += sum(int(g) for g in m.groups())
    return result


def rate(n: float, unit: str) -> str:
    return f"{n:,.0f} {unit}"


def http_value(r: dict[str, float]) -> str:
    value = rate(r["rps"], "req/s")
    if r["errors"]:
        value += f" ({r['errors']:,.0f} errors)"
    return value


# --- the measures ------------------------------------------------------------


def measure_pistache(build_dir: Path, duration: int, log: Log, work: Path, used: set[int]) -> list[tuple[str, str]]:
    exe = tool(build_dir, HTTP_TOOL)
    out = work / "limit-http.log"
    for port in free_ports(used):
        with running([str(exe), "--port", str(port), "--threads", "2"], out) as proc:
            try:
                connection = wait_serving(proc, port, "/", out, HTTP_TOOL)
            except LimitsError:
                if proc.poll() is not None and "ddress already in use" in tail(out):
                    continue  # taken meanwhile: next port
                raise
            log(f"Pistache trivial handler on 127.0.0.1:{port} (2 threads); "
                f"a request without a Connection header is answered with Connection: {connection}")
            rows = []
            for label, headers in (("no Connection header", []), ("with Connection: keep-alive",
                                                                    ["Connection: keep-alive"])):
                log(f"wrk -t {WRK_THREADS} -c {CONNECTIONS} -d {duration}s, Pistache, {label}")
                r = wrk(port, "/", duration, headers, work / "wrk.log")
                rows.append((f"Pistache trivial handler, {CONNECTIONS} connections, {label}", http_value(r)))
            return rows
    raise LimitsError(f"no free port in 127.0.0.1:{PORTS.start}-{PORTS.stop - 1}")


def nginx_config(work: Path, port: int, workers: str) -> Path:
    www = work / "www"
    www.mkdir(exist_ok=True)
    (www / "ok.json").write_bytes(BODY)
    # Workers of a root master run as nobody: they must reach the file.
    for p in (work, www):
        p.chmod(0o755)
    (www / "ok.json").chmod(0o644)
    tmp = work / "nginx-tmp"
    tmp.mkdir(exist_ok=True)
    conf = work / f"nginx-{workers}.conf"
    conf.write_text(f"""\
# Written by bench/limits.py: nginx serving one small file, the reference for
# what an HTTP server can do on this machine.
worker_processes {workers};
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ application/json json; }}
    default_type application/json;
    sendfile on;
    keepalive_timeout 75s;
    # Pistache limits no connection to a number of requests; neither does this.
    keepalive_requests 1000000000;
    server {{
        listen 127.0.0.1:{port};
        root {www};
    }}
}}
""")
    return conf


def measure_nginx(duration: int, log: Log, work: Path, used: set[int]) -> list[tuple[str, str]]:
    exe = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    cpus = os.cpu_count() or 1
    settings = (("1", "worker_processes 1"), ("auto", f"worker_processes auto = {cpus}"))
    if not exe:
        log("nginx is not installed: its rows are not measured")
        return [(f"nginx static file, {CONNECTIONS} connections, {s}", "not measured (nginx not installed)")
                for _, s in settings]
    rows = []
    out = work / "nginx.log"
    for workers, setting in settings:
        for port in free_ports(used):
            conf = nginx_config(work, port, workers)
            with running([exe, "-p", str(work), "-c", str(conf), "-e", str(work / "nginx-error.log")], out) as proc:
                try:
                    wait_serving(proc, port, "/ok.json", out, f"nginx ({setting})")
                except LimitsError:
                    if proc.poll() is not None and "ddress already in use" in tail(work / "nginx-error.log") + tail(out):
                        continue
                    raise
                log(f"wrk -t {WRK_THREADS} -c {CONNECTIONS} -d {duration}s, nginx static file "
                    f"on 127.0.0.1:{port} ({setting}, access log off)")
                r = wrk(port, "/ok.json", duration, [], work / "wrk.log")
                rows.append((f"nginx static file, {CONNECTIONS} connections, {setting}", http_value(r)))
            break
        else:
            raise LimitsError(f"no free port in 127.0.0.1:{PORTS.start}-{PORTS.stop - 1}")
    return rows


def run_sqlite_tool(exe: Path, db: Path, duration: int, batches: tuple[int, ...], extra: list[str],
                    log: Log, out: Path) -> dict[int, dict[str, str]]:
    """Runs the SQLite tool once; returns its RESULT fields by batch size."""
    cmd = [str(exe), str(db), "--seconds", str(duration), "--batch-sizes", ",".join(map(str, batches)),
           "--remove-after", *extra]
    proc = start(cmd, out)
    bound = len(batches) * (duration + 60)
    try:
        proc.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        raise LimitsError(f"{SQLITE_TOOL} did not finish within {bound} s")
    finally:
        stop(proc)
    if proc.returncode != 0:
        raise LimitsError(f"{SQLITE_TOOL} failed ({proc.returncode}): {tail(out)}")
    results = {}
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("INFO "):
            log(f"{SQLITE_TOOL}: {line[5:]}")
        if line.startswith("RESULT "):
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
            results[int(fields["batch"])] = fields
    for batch in batches:
        if batch not in results:
            raise LimitsError(f"{SQLITE_TOOL} printed no result for {batch} per transaction: {tail(out)}")
    return results


def sqlite_label(batch: int, ids: str) -> str:
    per = "1 event" if batch == 1 else f"{batch:,} events"
    return f"SQLite, the applier's statements, {per} per transaction ({ids} ids)"


def measure_sqlite(build_dir: Path, duration: int, log: Log, work: Path,
                   cache_size: int | None = None) -> list[tuple[str, str]]:
    exe = tool(build_dir, SQLITE_TOOL)
    extra = ["--cache-size", str(cache_size)] if cache_size is not None else []
    log(f"SQLite applier writes (node's writer pragmas; per event the users INSERT, "
        f"offset upsert per transaction), {duration} s each at {', '.join(map(str, SQLITE_BATCHES))} events per "
        f"transaction with UUIDv7 ids, then at {SQLITE_RANDOM_IDS_BATCH} with random UUIDv4 ids ({work})")
    ordered = run_sqlite_tool(exe, work / "limits.db", duration, SQLITE_BATCHES, extra, log,
                              work / "limit-sqlite.log")
    random_ids = run_sqlite_tool(exe, work / "limits-random-ids.db", duration, (SQLITE_RANDOM_IDS_BATCH,),
                                 extra + ["--random-ids"], log, work / "limit-sqlite-random-ids.log")
    rows = []
    for batch in SQLITE_BATCHES:
        unit = "transactions/s" if batch == 1 else "events/s"
        rows.append((sqlite_label(batch, "UUIDv7"), rate(float(ordered[batch]["rate"]), unit)))
    rows.append((sqlite_label(SQLITE_RANDOM_IDS_BATCH, "random UUIDv4"),
                 rate(float(random_ids[SQLITE_RANDOM_IDS_BATCH]["rate"]), "events/s")))
    return rows


def measure_limits(build_dir: Path, duration: int, log: Log, work_dir: Path | None = None,
                   sqlite_cache_size: int | None = None) -> list[tuple[str, str]]:
    """Measures the limits; returns (measure, value) rows.

    `duration` is the seconds of each wrk run and of each SQLite measure.
    Temporary files go into a new folder under `work_dir` (default: the
    system's temporary folder), removed at the end. `sqlite_cache_size` is
    PRAGMA cache_size for the SQLite measures (default: the node writer's,
    -16384 = 16 MiB). Raises LimitsError when a tool is missing or a measure
    fails; nothing it started keeps running.
    """
    build_dir = Path(build_dir)
    if duration < 1:
        raise LimitsError("duration must be at least 1 second")
    tool(build_dir, HTTP_TOOL)
    tool(build_dir, SQLITE_TOOL)
    if not shutil.which("wrk"):
        raise LimitsError("wrk is not installed (scripts/deps installs it)")
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="clusterlite-limits-", dir=work_dir))
    used: set[int] = set()
    try:
        rows = measure_pistache(build_dir, duration, log, work, used)
        rows += measure_nginx(duration, log, work, used)
        rows += measure_sqlite(build_dir, duration, log, work, sqlite_cache_size)
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(rows: list[tuple[str, str]]) -> str:
    lines = ["| Limit | Value |", "|---|---:|"]
    lines += [f"| {m} | {v} |" for m, v in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build",
                    help="the CMake build folder with bin/%s and bin/%s (default: build)" % (HTTP_TOOL, SQLITE_TOOL))
    ap.add_argument("--duration", type=int, default=5, help="seconds per measure (default 5)")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="where the temporary folder (SQLite file, nginx config) goes (default: system temp)")
    ap.add_argument("--sqlite-cache-size", type=int, default=None,
                    help="PRAGMA cache_size for the SQLite measures (pages, or KiB if negative; "
                         "default: the node writer's, -16384)")
    args = ap.parse_args()

    def log(msg: str) -> None:
        print(f"[limits] {msg}", file=sys.stderr, flush=True)

    def terminate(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        rows = measure_limits(args.build_dir, args.duration, log, args.work_dir, args.sqlite_cache_size)
    except LimitsError as e:
        print(f"limits: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("limits: interrupted; everything started was stopped", file=sys.stderr)
        return 130
    print(f"Limits on this machine ({os.cpu_count()} CPU(s), 1-minute load average "
          f"{os.getloadavg()[0]:.1f}); wrk -t {WRK_THREADS} -c {CONNECTIONS} -d {args.duration}s:\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
