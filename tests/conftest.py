import os
import sys

# Make `tests.ddp` importable from spawned worker processes.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
