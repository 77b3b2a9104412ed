from __future__ import annotations

import sys
from pathlib import Path

# The bench scripts import their helpers by name (bench/common.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
