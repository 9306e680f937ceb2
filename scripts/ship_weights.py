"""Copy a run folder's best weights into the package and register them.

    python scripts/ship_weights.py runs/dncnn_s25 dncnn-s25 [--notes "..."]

Writes ``denoise_tf/weights/<name>.weights.h5`` (no optimizer state) and updates
``denoise_tf/weights/registry.json`` from the run's config.json and summary.json. First the run's
best weights must pass the model's shipping check (``scripts/shipping_checks.py``: the first
two test images of its protocol above its required baselines, the noisy input and the median);
weights that miss it are not shipped (``--no-check`` skips the check, for tiny test runs).
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from denoise_tf import pretrained  # noqa: E402
from shipping_checks import subset_check  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("run_dir")
parser.add_argument("name")
parser.add_argument("--notes", default="")
parser.add_argument("--status", choices=["interim", "final"], default="interim", help="final once the targets are met")
parser.add_argument("--no-check", action="store_true", help="skip the shipping check")
args = parser.parse_args()
if not args.no_check:
    config = json.loads((Path(args.run_dir) / "config.json").read_text())
    check = subset_check(args.run_dir, args.name, entry=config, target=False)
    if check["required"]:
        sys.exit(f"not shipped: {args.run_dir} misses {args.name}'s shipping check: {'; '.join(check['required'])}")
print(json.dumps({args.name: pretrained.ship(args.run_dir, args.name, args.notes, args.status)}, indent=2))
