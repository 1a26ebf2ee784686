import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import brokers, cluster, cluster3, topic  # noqa: E402,F401  (pytest fixtures)
