"""Copy a run folder's best weights into the package and register them.

    python scripts/ship_weights.py runs/dncnn_s25 dncnn-s25 [--notes "..."]

Writes ``denoise_tf/weights/<name>.weights.h5`` (no optimizer state) and updates
``denoise_tf/weights/registry.json`` from the run's config.json and summary.json.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from denoise_tf import pretrained  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("run_dir")
parser.add_argument("name")
parser.add_argument("--notes", default="")
parser.add_argument("--status", choices=["interim", "final"], default="interim", help="final once the targets are met")
args = parser.parse_args()
print(json.dumps({args.name: pretrained.ship(args.run_dir, args.name, args.notes, args.status)}, indent=2))
