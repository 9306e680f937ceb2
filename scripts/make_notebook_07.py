"""Writes notebooks/07_beyond_gaussian.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "07",
        """Lessons 04–06 used additive Gaussian noise, the benchmark's noise. Three of the source write-ups
go further:

* **CleanVision** (seed 003) trains a colour DnCNN on *random mixes* of Gaussian, salt-and-pepper,
  speckle and scribble marks;
* the **dilated residual denoiser** (seed 000) targets *camera ISO noise*: signal-dependent
  luminance grain plus blotchy low-frequency chroma noise, and is applied in *several passes*;
* the **sequential CNN** (seed 001) learns from *real noisy / clean pairs* (SIDD).

This lesson evaluates denoisers under those noises, shows what repeated passes do, and builds a
SIDD-layout pair folder that the training code reads. `PROFILE = "tiny"` (default, what CI runs)
works on small crops so that BM3D stays fast; `DENOISE_TF_PROFILE=full` uses whole images.""",
        [
            "give classical denoisers a fair chance on non-Gaussian noise (the oracle level);",
            "pick the right classical method for impulses, grain and mixes, and see why a mix defeats them all;",
            "measure whether extra denoising passes help before adopting them;",
            "write and read noisy/clean pairs in the SIDD layout for training on real pairs.",
        ],
    ),
    setup("""CROP = 96 if PROFILE == "tiny" else None  # side of the centre crop (None: whole images)"""),
    md("""## A colour test image

One of the bundled sample photos (`datasets.load("samples")`), centre-cropped in the tiny profile.
Images are float32 in [0, 1], shape `(H, W, 3)`."""),
    code("""from denoise_tf import datasets, evaluate, metrics, noise, plots, zoo

images, names = datasets.load("samples", color=True)
clean = images[names.index("chelsea.png")]  # the cat
if CROP:
    top, left = (clean.shape[0] - CROP) // 2, (clean.shape[1] - CROP) // 2
    clean = clean[top : top + CROP, left : left + CROP]
print(clean.shape, clean.dtype, float(clean.min()), float(clean.max()))"""),
    md("""## Denoising under other noises: the oracle level

Classical methods such as BM3D and non-local means need the noise level. For Gaussian noise that is
its σ; for the other kinds `denoise_tf.evaluate` gives them the **oracle level**: the RMS of the
image's actual noise, on the 0–255 scale, which is what a perfect noise estimator would report. The
baselines thus see their best case. The test conditions are those of RESULTS.md
(`denoise_tf.targets.MIXED_TESTS` and `ISO_TESTS`)."""),
    code(r"""import numpy as np

from denoise_tf import classical, targets

specs = list(targets.MIXED_TESTS[:4]) + [targets.MIXED_TESTS[5], targets.ISO_TESTS[-1]]
methods = ["median", "nlm", "bm3d"]
rows, titles, table = [], [], ["| noise | oracle level | noisy | " + " | ".join(methods) + " |", "|---" * (3 + len(methods)) + "|"]
for k, spec in enumerate(specs):
    noisy, drawn = noise.apply(clean, spec, seed=[0, k], return_level=True)
    noisy = np.clip(noisy, 0, 1).astype(np.float32)
    level = evaluate.oracle_level(clean, noisy, spec, drawn)
    outputs = {m: np.clip(classical.denoise(noisy, m, sigma=level), 0, 1) for m in methods}
    scores = {m: metrics.psnr(clean, out) for m, out in outputs.items()}
    table.append(f"| `{spec}` | {level:.1f} | {metrics.psnr(clean, noisy):.2f} | " + " | ".join(f"{scores[m]:.2f}" for m in methods) + " |")
    best = max(scores, key=scores.get)
    rows.append([noisy, outputs[best]])
    titles.append([spec.split(":")[0] + (" mix" if spec.startswith("mixed") else ""), f"{best} {scores[best]:.2f} dB"])
print("\n".join(table))
plots.side_by_side(rows, titles, size=2.2, path=FIGURES / "07_noises_best_classical.png");"""),
    md("""Read the table row by row: each noise kind has a different winner. The median filter is made for
impulses (salt-and-pepper) and blurs everything else; BM3D, built for Gaussian noise, is strong where
the noise resembles it and helpless against outliers and scribble marks, which no method here removes.
On a mix, every method is poor: the write-up's argument for training a network on the mix
(`configs/dncnn_mixed.yaml`)."""),
    md("""## Several passes

The dilated residual write-up runs its model twice over each photo. `inference.denoise(model, image,
passes=n)` (CLI `--passes n`) feeds the output back in, clipping between passes. Whether that helps
depends on what the first pass leaves: below, the shipped blind DnCNN-B on heavy Gaussian noise
(σ = 50, gray). Compare the numbers: another pass helps only while the model leaves noise behind,
and every pass also smooths detail, so the best count is measured, not assumed."""),
    code("""from denoise_tf import inference, pretrained

gray = clean.mean(axis=-1, keepdims=True)
noisy_gray = evaluate.noisy_input(gray, "gaussian:sigma=50", seed=[0, 0])
model = pretrained.load("dncnn-b")
passes = {n: np.clip(inference.denoise(model, noisy_gray, passes=n), 0, 1) for n in (1, 2, 3)}
for n, out in passes.items():
    print(f"{n} pass{'es' if n > 1 else ''}: {metrics.psnr(gray, out):.2f} dB")
plots.side_by_side(
    [[noisy_gray] + list(passes.values())],
    [["noisy σ=50"] + [f"{n} pass{'es' if n > 1 else ''}" for n in passes]],
    size=2.2, path=FIGURES / "07_passes.png",
);"""),
    md("""## Real noisy / clean pairs in the SIDD layout

SIDD (the Smartphone Image Denoising Dataset) stores one folder per scene with a noisy and a
ground-truth PNG. Here `datasets.make_paired_set` writes a stand-in in the same layout: each clean image gets camera ISO noise and is rounded to 8 bits, as a
camera would write it. The loader (`datasets.load_pairs(..., layout="sidd")`) and the training config
(`configs/sequential_sidd.yaml`, key `paired_data`) are the ones a user with the real SIDD uses.
A model trained on this stand-in learns the ISO noise model, not a phone's real noise."""),
    code("""import tempfile
from pathlib import Path

folder = Path(tempfile.mkdtemp(prefix="pairs_"))
datasets.make_paired_set("samples", folder, limit=2, seed=0)
for noisy_file, clean_file, _ in datasets.find_pairs(folder, layout="sidd"):
    print(noisy_file.parent.relative_to(folder), "|", noisy_file.name, "|", clean_file.name)
noisy_pairs, clean_pairs, scenes = datasets.load_pairs(folder, layout="sidd", limit=1)
n, c = noisy_pairs[0][:192, :192], clean_pairs[0][:192, :192]
plots.side_by_side([[n, c]], [[f"noisy {metrics.psnr(c, n):.2f} dB", "ground truth"]], size=3, path=FIGURES / "07_sidd_pair.png");"""),
    md("""To train the seed-001 model on such a folder (on a GPU for the full recipe):

```
python -c "from denoise_tf import datasets; datasets.make_paired_set('cbsd432', '/tmp/sidd_iso_cbsd432')"
python -m denoise_tf train sequential_sidd --set paired_data=/tmp/sidd_iso_cbsd432
```"""),
    md("""## The trained colour models

The colour and write-up models (`cdncnn-b`, `dncnn-mixed`, `dilated-iso`, `sequential-sidd`) appear
in `denoise_tf.pretrained` once trained and shipped; RESULTS.md then gets their CBSD68 tables
(`python -m denoise_tf report --sections colour mixed iso`). The cell lists what this installation
has and runs each on the mixed-noise crop."""),
    code("""colour = [name for name in pretrained.available() if pretrained.entry(name)["model_options"].get("channels") == 3]
print("shipped colour models:", colour or "none yet (the recipes cdncnn_b and *_cpu train them)")
spec = targets.MIXED_TESTS[5]
noisy = np.clip(noise.apply(clean, spec, seed=[0, 4]), 0, 1).astype(np.float32)
for name in colour:
    out = np.clip(zoo.make_denoiser(name).denoise(noisy), 0, 1)
    print(f"{name}: {metrics.psnr(clean, noisy):.2f} -> {metrics.psnr(clean, out):.2f} dB on `{spec}`")"""),
    md("""## Take-aways

* Each noise kind has its natural classical enemy (median for impulses, BM3D for Gaussian-like
  grain); a mix defeats all of them, which is what a network trained on the mix is for.
* Classical baselines here always get the oracle noise level: a fair comparison gives them their
  best case.
* Extra passes only help a model that leaves noise behind; measure before adopting them.
* Paired training data lives in a fixed folder layout; the same loader reads the real SIDD."""),
    exercises(
        "07",
        [
            "Give BM3D half and twice the oracle level on the ISO 6400 crop. How much PSNR does a wrong noise estimate cost?",
            "Add `bilateral` and `tv` to `methods`. Does either win on any noise kind?",
            "Count the passes that maximise PSNR for DnCNN-B at σ = 25 and at σ = 75. Why do they differ?",
            "Make a paired set with `noise=\"gaussian:sigma=15\"` instead of ISO noise and compare the residual of one pair with an ISO pair.",
        ],
    ),
    next_link("07"),
]
write("07", cells)
