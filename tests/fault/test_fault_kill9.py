"""kill -9 of a node while clients write through all three nodes: after its
restart every acknowledged write is on every node, exactly once."""

import time

from checks import assert_log_applied_exactly_once
from faultlib import Writers, acknowledged
from harness import Cluster

TOTAL_WRITES = 3000


def test_kill9_during_writes_loses_and_duplicates_nothing(cluster3: Cluster, brokers: str):
    n1, n2, n3 = cluster3.nodes
    writers = Writers(cluster3.nodes, threads=6, total=TOTAL_WRITES, tag="k9").start()
    try:
        writers.wait_count(TOTAL_WRITES // 4, timeout=120)
        n2.proc.kill()  # SIGKILL: no chance to commit or flush anything
        n2.proc.wait(timeout=10)
        writers.wait_count(TOTAL_WRITES // 2, timeout=120)
        n2.start(timeout=60)
        writers.wait_count(TOTAL_WRITES * 3 // 4, timeout=120)
        # A second kill, this time of a node that has just caught up after a restart.
        n3.proc.kill()
        n3.proc.wait(timeout=10)
        time.sleep(0.5)
        n3.start(timeout=60)
    finally:
        results = writers.join(timeout=300)
    acked = acknowledged(results)
    failed = [r for r in results if not r.ok]
    # Writes through the live nodes must keep succeeding; only the killed nodes may fail.
    assert len(acked) >= TOTAL_WRITES // 2, (len(acked), failed[:5])
    assert all(r.node in (n2.name, n3.name) for r in failed), [r for r in failed if r.node == n1.name][:5]
    assert all(r.status in (None, 503) for r in failed), [r for r in failed if r.status not in (None, 503)][:5]
    summary = assert_log_applied_exactly_once(cluster3.nodes, brokers, cluster3.topic, acked)
    sums = {n.name: n.checksum() for n in cluster3.nodes}
    assert len({(s["checksum"], s["rows"]) for s in sums.values()}) == 1, sums
    assert summary["rows"] >= len(acked)
