"""The broker stalls (SIGSTOP for longer than kafka.request_timeout_ms, then
SIGCONT) while clients create, update and delete through three nodes. Every
answer is recorded and held against the log afterwards:

- a write answered 503 was certainly not taken: its event is not in the log
  and it is applied nowhere;
- a write answered 2xx is in the log and applied on every node;
- 504 (outcome unknown) may have gone either way.

The race between a broker's late write and the producer's timeout depends on
timing, so one run pauses the broker three times.

Runs its own Apache Kafka (scripts/kafka with private ports and state)."""

import json
import os
import signal
import threading
import time
import uuid

from faultlib import PrivateKafka, read_log
from harness import Cluster, http, unique_topic, wait_converged, wait_until

REQUEST_TIMEOUT_MS = 2000
WRITE_TIMEOUT_MS = 3000
THREADS = 6
DELETE_TARGETS = 30  # per thread


def test_a_write_answered_503_during_a_broker_pause_is_never_applied(tmp_path, private_kafka: PrivateKafka):
    topic = unique_topic("cl_fault_pause")
    cluster = Cluster(tmp_path / "nodes", private_kafka.brokers, topic)
    extra = {"kafka": {"request_timeout_ms": REQUEST_TIMEOUT_MS}, "http": {"write_timeout_ms": WRITE_TIMEOUT_MS}}
    try:
        nodes = [cluster.add_node(start=False, extra=extra) for _ in range(3)]
        nodes[0].start(timeout=60)
        for n in nodes[1:]:
            n.start(timeout=60)
        for n in nodes:
            wait_until(lambda n=n: n.request("GET", "/readyz", timeout=5).status == 200, 60, f"{n.name} ready")

        # Each thread updates one user of its own and deletes users of its own.
        def make(k):
            r = nodes[k % 3].create_user(f"Target {k}", f"target-{k}-{uuid.uuid4().hex[:8]}@example.org")
            assert r.status == 201, r.body
            return r.json()["id"]
        update_target = [make(t) for t in range(THREADS)]
        delete_targets = [[make(THREADS + t * DELETE_TARGETS + k) for k in range(DELETE_TARGETS)]
                          for t in range(THREADS)]
        wait_converged(nodes)

        answers = []  # (kind, key, status, node, seconds)
        lock = threading.Lock()

        def worker(t, stop):
            k = 0
            while not stop.is_set():
                node = nodes[(t + k) % 3]
                kind = ("create", "update", "delete")[k % 3]
                marker = f"p{t}-{k}-{uuid.uuid4().hex[:8]}"
                started = time.monotonic()
                if kind == "create":
                    r = http("POST", node.url + "/users", {"name": "Paused", "email": f"{marker}@example.org"},
                             timeout=30)
                    key = f"{marker}@example.org"
                elif kind == "update":
                    key = update_target[t]
                    r = http("PUT", f"{node.url}/users/{key}", {"name": marker, "email": f"keep-{t}@example.org"},
                             timeout=30)
                    key = marker
                else:
                    if not delete_targets[t]:
                        k += 1
                        continue
                    key = delete_targets[t].pop()
                    r = http("DELETE", f"{node.url}/users/{key}", timeout=30)
                with lock:
                    answers.append((kind, key, r.status, node.name, time.monotonic() - started))
                k += 1
                time.sleep(0.01)

        pid = private_kafka.pid()
        assert pid
        # Pauses shorter and longer than the write's whole bound (the log's
        # timeout, then http.write_timeout_ms waiting for an unconfirmed event).
        for pause in (REQUEST_TIMEOUT_MS / 1000 + 1.5, 7.0, 4.0):
            stop = threading.Event()
            threads = [threading.Thread(target=worker, args=(t, stop), daemon=True) for t in range(THREADS)]
            for th in threads:
                th.start()
            time.sleep(1.0)
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(pause)
            finally:
                os.kill(pid, signal.SIGCONT)
            time.sleep(2.0)
            stop.set()
            for th in threads:
                th.join(timeout=60)
            assert not any(th.is_alive() for th in threads), "a client never got an answer"

        wait_converged(nodes, timeout=120)
        events = [json.loads(rec["value"]) for rec in read_log(private_kafka.brokers, topic)]
        inserted = {e["data"].get("email") for e in events if e["operation"] == "INSERT"}
        renamed = {e["data"].get("name") for e in events if e["operation"] == "UPDATE"}
        deleted = {e["data"].get("id") for e in events if e["operation"] == "DELETE"}
        rows = {r[0]: (r[1], r[2]) for r in nodes[0].query("SELECT id, name, email FROM users")}
        emails = {email for _, email in rows.values()}
        for node in nodes[1:]:
            assert {r[0]: (r[1], r[2]) for r in node.query("SELECT id, name, email FROM users")} == rows, node.name

        statuses = {}
        wrong = []
        for kind, key, status, node, _ in answers:
            statuses[status] = statuses.get(status, 0) + 1
            if status == 503:
                in_log = key in (inserted if kind == "create" else renamed if kind == "update" else deleted)
                applied = key in emails if kind == "create" else kind == "delete" and key not in rows
                if in_log or applied:
                    wrong.append(("503 but written", kind, key, node))
            elif status in (200, 201, 202, 204):
                if kind == "create" and key not in emails:
                    wrong.append(("2xx but not applied", kind, key, node))
                if kind == "update" and key not in renamed:
                    wrong.append(("2xx but not in the log", kind, key, node))
                if kind == "delete" and key in rows:
                    wrong.append(("2xx but still there", kind, key, node))
            elif status != 504:
                wrong.append(("unexpected status", kind, key, status, node))
        print("answers by status:", statuses)
        assert not wrong, wrong[:10]
        assert sum(statuses.values()) > 60, statuses
        held = [a for a in answers if a[4] > REQUEST_TIMEOUT_MS / 1000]
        assert held, "no write waited for the paused broker"
    finally:
        cluster.close()
