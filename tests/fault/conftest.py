import os
import signal
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[0] / "integration" / "cluster"))

from harness import brokers, cluster, cluster3, topic  # noqa: E402,F401  (pytest fixtures)


@pytest.fixture
def private_kafka(tmp_path):
    """An Apache Kafka broker of this test alone, which it may stop, start or
    pause; killed at the end whatever state the test left it in."""
    from faultlib import PrivateKafka

    kafka = PrivateKafka(tmp_path / "kafka")
    kafka.start()
    try:
        yield kafka
    finally:
        pid = kafka.pid()
        if pid:
            try:
                os.kill(pid, signal.SIGCONT)  # a paused broker cannot stop
            except ProcessLookupError:
                pass
        try:
            kafka.stop()
        finally:
            pid = kafka.pid()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture(scope="session")
def kafka3_cluster(tmp_path_factory):
    """Three Apache Kafka brokers (KRaft) of the fault tests alone, started
    once for the session. At its end they are killed: their data is thrown
    away with the temporary folder, and a clean stop of three brokers takes
    half a minute."""
    from faultlib import PrivateKafkaCluster

    kafka = PrivateKafkaCluster(tmp_path_factory.mktemp("kafka3"))
    try:
        kafka.start()
        yield kafka
    finally:
        for b in range(1, kafka.count + 1):
            pid = kafka.pid(b)
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                (kafka.state / f"broker-{b}" / "kafka.pid").unlink(missing_ok=True)


@pytest.fixture
def kafka3(kafka3_cluster):
    """The three-broker cluster with all three brokers running (a test that
    killed one may have left it down)."""
    if len(kafka3_cluster.running()) < kafka3_cluster.count:
        kafka3_cluster.start()
    return kafka3_cluster
