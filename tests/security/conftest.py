import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "integration" / "cluster"))
sys.path.insert(0, str(HERE.parents[0] / "fault"))
