import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[0] / "integration" / "cluster"))

from harness import brokers, cluster, cluster3, topic  # noqa: E402,F401  (pytest fixtures)
