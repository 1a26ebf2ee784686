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
