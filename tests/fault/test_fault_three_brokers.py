"""Broker failures on a replicated topic: three Apache Kafka brokers of these
tests alone (scripts/kafka start --brokers 3 on private ports), a topic with
replication factor 3, min.insync.replicas=2 and unclean leader election off,
and three nodes taking a concurrent history of creates, updates and deletes.
Every answer is held against the topic read back with kcat afterwards
(faultlib.check_history_against_log): nothing acknowledged is lost or
reverted, nothing is applied twice, a 503 was never written, and the nodes'
checksums agree.

- the broker leading the users table's partition is killed with kill -9;
- the three brokers are restarted one after the other (a rolling restart);
- two of the three brokers are down: writes are refused (503 within the
  bound when the leader is among them; 504, outcome unknown, when the leader
  is the one left), reads go on, and writes resume once the brokers are back."""

import json
import signal
import subprocess
import time

import pytest

from faultlib import MixedHistory, PrivateKafkaCluster, Writers, check_history_against_log, read_log
from harness import REPO, Cluster, unique_topic, wait_converged, wait_until

REQUEST_TIMEOUT_MS = 3000
WRITE_TIMEOUT_MS = 3000
# scripts/kafka fences a broker that stopped heartbeating after 3 s
# (broker.session.timeout.ms) and a new leader is elected at once; the rest
# covers librdkafka finding the new leader and a loaded machine.
ELECTION_S = 3.0
SLACK_S = 4.0


@pytest.fixture
def replicated(tmp_path, kafka3: PrivateKafkaCluster):
    """Three nodes on a new topic of the three-broker cluster, replication 3."""
    topic = unique_topic("cl_fault_rf3")
    cluster = Cluster(tmp_path / "nodes", kafka3.brokers, topic)
    extra = {"kafka": {"request_timeout_ms": REQUEST_TIMEOUT_MS, "replication_factor": 3, "min_insync_replicas": 2},
             "http": {"write_timeout_ms": WRITE_TIMEOUT_MS}}
    try:
        nodes = [cluster.add_node(start=False, extra=extra) for _ in range(3)]
        nodes[0].start(timeout=60)  # creates the topic
        for n in nodes[1:]:
            n.start(timeout=60)
        for n in nodes:
            wait_until(lambda n=n: n.request("GET", "/readyz", timeout=5).status == 200, 60, f"{n.name} ready")
        kafka3.wait_fully_replicated(topic)
        yield cluster
    finally:
        cluster.close()


def users_partition(kafka3: PrivateKafkaCluster, cluster: Cluster) -> dict:
    """The partition holding the users table's events (the nodes' writes so far) and its leader."""
    applied = cluster.nodes[0].query("SELECT partition FROM _cl_table_partitions WHERE table_name = 'users'")
    assert len(applied) == 1, applied
    return next(p for p in kafka3.partitions(cluster.topic) if p["partition"] == applied[0][0])


def test_topic_is_created_replicated_with_its_guarantees(kafka3: PrivateKafkaCluster, replicated: Cluster):
    parts = kafka3.partitions(replicated.topic)
    assert len(parts) == 3 and all(p["replicas"] == [1, 2, 3] for p in parts), parts
    # The topic's own settings, as the brokers report them (kafka-configs --describe).
    out = subprocess.run(
        ["java", "-cp", str(_kafka_libs()), "kafka.admin.ConfigCommand", "--bootstrap-server",
         kafka3.brokers.split(",")[0], "--entity-type", "topics", "--entity-name", replicated.topic, "--describe"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "min.insync.replicas=2" in out.stdout, out.stdout
    assert "unclean.leader.election.enable=false" in out.stdout, out.stdout
    assert "retention.ms=-1" in out.stdout, out.stdout


def test_cluster_up_with_three_brokers_creates_a_replicated_topic(tmp_path, kafka3: PrivateKafkaCluster):
    """scripts/cluster up --brokers 3 (here on the three brokers of these
    tests): the nodes get all three addresses and create the topic with
    replication factor 3 and min.insync.replicas 2."""
    from harness import Launcher
    topic = unique_topic("cl_launch_rf3")
    launcher = Launcher(tmp_path, kafka3.brokers, topic, nodes=1)
    try:
        up = launcher.run("up", "--nodes", "1", "--brokers", "3")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "replication factor 3, min.insync.replicas 2" in up.stdout, up.stdout
        config = json.loads((launcher.state / "node-1" / "clusterlite.json").read_text())
        assert config["kafka"]["brokers"] == kafka3.brokers
        assert (config["kafka"]["replication_factor"], config["kafka"]["min_insync_replicas"]) == (3, 2)
        parts = kafka3.partitions(topic)
        assert len(parts) == 3 and all(p["replicas"] == [1, 2, 3] for p in parts), parts
        # The layout is fixed until `down`: another broker count is refused.
        again = launcher.run("up", "--brokers", "1")
        assert again.returncode != 0 and "has 3 broker(s)" in again.stderr, again.stdout + again.stderr
    finally:
        down = launcher.run("down", timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr


def _kafka_libs():
    import glob
    import os
    version = os.environ.get("CLUSTERLITE_KAFKA_VERSION", "4.1.0")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    libs = f"{cache}/clusterlite/kafka-{version}/libs"
    assert glob.glob(libs + "/*.jar"), f"no Kafka jars in {libs}"
    return libs + "/*"


def test_leader_kill9_under_load_loses_nothing(kafka3: PrivateKafkaCluster, replicated: Cluster):
    nodes = replicated.nodes
    history = MixedHistory(nodes)
    history.prepare()
    wait_converged(nodes)
    leader = users_partition(kafka3, replicated)["leader"]
    history.start()
    try:
        wait_until(lambda: history.count() >= 150, 60, "150 answers before the kill")
        killed_at = time.monotonic()
        kafka3.kill(leader, signal.SIGKILL)
        # Writes resume: one started after the kill succeeds within the bound.
        wait_until(lambda: history.ok_since(killed_at), REQUEST_TIMEOUT_MS / 1000 + ELECTION_S + SLACK_S + 10,
                   "a write to succeed after the leader was killed")
        first_ok = min(a.started + a.elapsed for a in history.ok_since(killed_at))
        resumed_after = first_ok - killed_at
        new_leader = users_partition(kafka3, replicated)["leader"]
        wait_until(lambda: len(history.ok_since(first_ok)) >= 150, 60, "150 writes after the new leader took over")
    finally:
        answers = history.stop()
    print(f"leader broker {leader} killed; broker {new_leader} leads; writes resumed after {resumed_after:.1f}s")
    assert new_leader != leader
    assert resumed_after <= REQUEST_TIMEOUT_MS / 1000 + ELECTION_S + SLACK_S, resumed_after
    statuses = check_history_against_log(nodes, kafka3.brokers, replicated.topic, history, answers)
    print("answers by status:", statuses)
    assert sum(v for k, v in statuses.items() if k in (200, 201, 204)) >= 300, statuses
    kafka3.start()  # the killed broker comes back and catches up
    kafka3.wait_fully_replicated(replicated.topic)


def test_rolling_restart_of_all_brokers_under_load_loses_nothing(kafka3: PrivateKafkaCluster, replicated: Cluster):
    nodes = replicated.nodes
    history = MixedHistory(nodes, delete_targets=60)
    history.prepare()
    wait_converged(nodes)
    history.start()
    try:
        wait_until(lambda: history.count() >= 100, 60, "100 answers before the first restart")
        for broker in (1, 2, 3):
            kafka3.kill(broker, signal.SIGTERM, wait=60)  # a controlled shutdown moves leadership first
            kafka3.start()
            # The next broker goes only once this one is back in every ISR:
            # with min.insync.replicas=2 two missing replicas stop the writes.
            kafka3.wait_fully_replicated(replicated.topic)
            mark = time.monotonic()
            wait_until(lambda: len(history.ok_since(mark)) >= 30, 60, f"writes after broker {broker} came back")
    finally:
        answers = history.stop()
    statuses = check_history_against_log(nodes, kafka3.brokers, replicated.topic, history, answers)
    print("answers by status:", statuses)
    assert sum(v for k, v in statuses.items() if k in (200, 201, 204)) >= 200, statuses


@pytest.mark.parametrize("survivor", ["follower", "leader"])
def test_two_of_three_brokers_down_writes_refused_reads_go_on(kafka3: PrivateKafkaCluster, replicated: Cluster,
                                                              survivor: str):
    """With the leader among the two down, no leader can be elected (the
    controller quorum is gone too): every write is refused, 503 within the
    log's bound. With the leader the one left, it takes each event into its
    log but cannot have a second replica hold it (nor, without a controller,
    shrink its in-sync replicas): the outcome is unknown, 504 after both
    bounds, and those events are applied everywhere once the brokers return."""
    nodes = replicated.nodes
    known = nodes[0].create_user("Known", f"known-{unique_topic('k')}@example.org")
    assert known.status == 201, known.body
    known_id = known.json()["id"]
    wait_converged(nodes)
    leader = users_partition(kafka3, replicated)["leader"]
    if survivor == "follower":
        down = [leader, next(b for b in (1, 2, 3) if b != leader)]
    else:
        down = [b for b in (1, 2, 3) if b != leader]
    for b in down:
        kafka3.kill(b, signal.SIGKILL)
    down_at = time.monotonic()
    status = subprocess.run([str(REPO / "scripts" / "kafka"), "status"], env=kafka3.env, capture_output=True,
                            text=True, timeout=30)
    assert status.returncode == 1 and all(f"broker {b} not running" in status.stdout for b in down), status.stdout
    writers = Writers(nodes, threads=6, tag="down").start()
    try:
        # Reads go on meanwhile, on every node.
        while time.monotonic() < down_at + 8:
            for n in nodes:
                got = n.request("GET", f"/users/{known_id}", timeout=5)
                assert got.status == 200, (n.name, got.status, got.body[:200])
                assert n.request("GET", "/users?limit=5", timeout=5).status == 200
            time.sleep(0.2)
    finally:
        writers.stop()
        answers = writers.join(timeout=60)
    print(f"answers with brokers {down} down, the {survivor} left (seconds after, status, elapsed):",
          [(round(r.started - down_at, 1), r.status, round(r.elapsed, 1)) for r in answers])
    # A write whose bytes librdkafka had handed to a dying leader's connection
    # may have been written: 504 (outcome unknown), after both bounds.
    settled = [r for r in answers if r.started > down_at + 1.0]
    assert len(settled) >= 6, len(settled)
    both_bounds = (REQUEST_TIMEOUT_MS + WRITE_TIMEOUT_MS) / 1000 + SLACK_S
    assert all(r.status in (503, 504) for r in answers), [(r.node, r.status, r.error) for r in answers
                                                          if r.status not in (503, 504)][:5]
    assert all(r.elapsed <= both_bounds for r in answers), max(r.elapsed for r in answers)
    if survivor == "follower":
        assert all(r.status == 503 for r in settled), [(r.node, r.status) for r in settled if r.status != 503][:5]
        assert all(r.elapsed <= REQUEST_TIMEOUT_MS / 1000 + SLACK_S for r in settled), max(r.elapsed for r in settled)

    back_at = time.monotonic()
    kafka3.start()
    for n in nodes:
        wait_until(lambda n=n: n.create_user("Back", f"back-{n.name}-{time.monotonic_ns()}@example.org").status == 201,
                   60, f"{n.name} to take writes again")
    print(f"writes resumed {time.monotonic() - back_at:.1f}s after the brokers were started again")
    # Every node has the same rows; nothing answered 503 is among them, and
    # an event of unknown outcome (504) is in the log exactly when applied.
    wait_converged(nodes, timeout=90)
    emails = {r[0] for r in nodes[0].query("SELECT email FROM users")}
    in_log = {json.loads(rec["value"])["data"].get("email") for rec in read_log(kafka3.brokers, replicated.topic)}
    assert not [r.email for r in answers if r.status == 503 and (r.email in emails or r.email in in_log)]
    assert all((r.email in emails) == (r.email in in_log) for r in answers if r.status == 504)
    print("writes of unknown outcome applied once the brokers returned:",
          sum(r.email in emails for r in answers if r.status == 504), "of", sum(r.status == 504 for r in answers))
    kafka3.wait_fully_replicated(replicated.topic)
