"""Write the per-set download manifests from a SHA256SUMS file.

Usage::

    python scripts/make_dataset_manifests.py [--sums ../shared/data/SHA256SUMS]

Writes ``datasets/<name>.json`` (the copy people read) and ``denoise_tf/registry/<name>.json``
(the copy the installed package reads); both are identical. The SHA256SUMS file lists
``<sha256>  <set folder>/<file>`` lines, as made by ``sha256sum``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BSD = (
    "D. Martin, C. Fowlkes, D. Tal, J. Malik, \"A Database of Human Segmented Natural Images and its "
    "Application to Evaluating Segmentation Algorithms and Measuring Ecological Statistics\", ICCV 2001."
)
BSD500 = (
    "P. Arbelaez, M. Maire, C. Fowlkes, J. Malik, \"Contour Detection and Hierarchical Image "
    "Segmentation\", IEEE TPAMI 2011."
)
FOE = "S. Roth, M. J. Black, \"Fields of Experts\", IJCV 2009."
TNRD = (
    "Y. Chen, T. Pock, \"Trainable Nonlinear Reaction Diffusion: A Flexible Framework for Fast and "
    "Effective Image Restoration\", IEEE TPAMI 2017."
)
DNCNN = (
    "K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, \"Beyond a Gaussian Denoiser: Residual Learning of "
    "Deep CNN for Image Denoising\", IEEE TIP 26(7), 2017."
)
FFDNET = (
    "K. Zhang, W. Zuo, L. Zhang, \"FFDNet: Toward a Fast and Flexible Solution for CNN-based Image "
    "Denoising\", IEEE TIP 2018."
)
BSD_LICENCE = (
    "BSD images are distributed by UC Berkeley for research use; the upstream repository "
    "redistributes them without extra terms. Treat as research-only data."
)

DNCNN_SRC = ("cszn/DnCNN", "e93b27812d3ff523a3a79d19e5e50d233d7a8d0a")

#: name -> (folder, colour, repo, commit, path in repo, description, licence, citations)
SETS = {
    "train400": (
        "train400", False, *DNCNN_SRC, "TrainingCodes/DnCNN_TrainingCodes_v1.0/data/Train400",
        "400 gray 180x180 training crops (DnCNN/TNRD); each is a crop of a CBSD432 image.",
        BSD_LICENCE, [BSD, TNRD, DNCNN],
    ),
    "bsd68": (
        "bsd68", False, *DNCNN_SRC, "testsets/BSD68",
        "68 gray BSD test images (Fields of Experts test split).",
        BSD_LICENCE, [BSD, FOE, DNCNN],
    ),
    "set12": (
        "set12", False, *DNCNN_SRC, "testsets/Set12",
        "12 classic gray test images (256x256 and 512x512), DnCNN order.",
        "Classic test images of mixed provenance (e.g. Lena), redistributed upstream without extra "
        "terms. Treat as research-only data.",
        [DNCNN],
    ),
    "cbsd68": (
        "cbsd68", True, "cszn/FFDNet", "e787f46df2f374ff3591186706229cb9a0591fea", "testsets/CBSD68",
        "68 RGB BSD test images, the colour versions of BSD68.",
        BSD_LICENCE, [BSD, FOE, FFDNET],
    ),
    "cbsd432": (
        "cbsd432", True, "Magauiya/Extended_SURE", "1bcec3b61d7c3687f0fc906d684cc7d29e59aab4",
        "Dataset/CBSD432",
        "432 RGB BSD500 JPEGs not in CBSD68 (colour DnCNN training set).",
        BSD_LICENCE, [BSD, BSD500, DNCNN],
    ),
}


def read_sums(path: Path) -> dict[str, dict[str, str]]:
    """``{folder: {file name: sha256}}`` from a SHA256SUMS file."""
    out: dict[str, dict[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        digest, rel = line.split(maxsplit=1)
        rel = rel.lstrip("*")
        if "/" in rel:
            folder, fname = rel.split("/", 1)
            out.setdefault(folder, {})[fname] = digest
    return out


def build(sums: dict[str, dict[str, str]]) -> dict[str, dict]:
    """One manifest dict per named set (train400_val is a subset of cbsd432)."""
    from denoise_tf.datasets import NAMED_SETS

    manifests = {}
    for name, (folder, color, repo, commit, src, desc, licence, cites) in SETS.items():
        files = dict(sorted(sums[folder].items()))
        manifests[name] = {
            "name": name,
            "description": desc,
            "folder": folder,
            "color": color,
            "count": len(files),
            "source": {"repo": repo, "commit": commit, "path": src},
            "base_url": f"https://raw.githubusercontent.com/{repo}/{commit}/{src}/",
            "licence": licence,
            "citation": cites,
            "files": files,
        }
        assert len(files) == NAMED_SETS[name]["count"], (name, len(files))
    val = dict(manifests["cbsd432"])
    val.update(
        name="train400_val",
        description="32 CBSD432 images that are not crop sources of Train400; used gray as a "
        "validation set disjoint from Train400, BSD68 and Set12. Stored in the cbsd432 folder.",
        color=False,
        count=len(NAMED_SETS["train400_val"]["files"]),
        files={f: manifests["cbsd432"]["files"][f] for f in sorted(NAMED_SETS["train400_val"]["files"])},
    )
    manifests["train400_val"] = val
    return manifests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sums", type=Path, default=REPO.parent / "shared" / "data" / "SHA256SUMS")
    args = parser.parse_args()
    manifests = build(read_sums(args.sums))
    for out_dir in (REPO / "datasets", REPO / "denoise_tf" / "registry"):
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, entry in manifests.items():
            (out_dir / f"{name}.json").write_text(json.dumps(entry, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {len(manifests)} manifests to {out_dir}")


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(REPO))
    main()
