"""Writes notebooks/05_evaluation.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, repo_url, setup, write

cells = [
    opening(
        "05",
        """A PSNR figure on its own tells you little. It depends on the images, the noise level, how the noise was
drawn, whether the noisy input was clipped, whether the output was clipped, and how PSNR and SSIM were
computed. Papers that disagree by 0.1 dB often differ in one of these details. So this project fixes
them once, in `denoise_tf.evaluate`. The command line (`python -m denoise_tf evaluate`), `RESULTS.md`
and these notebooks all use that one code path.

In this lesson we:

1. go through the protocol step by step on one image;
2. score the classical baselines (box filter to BM3D) on **Set12** at σ = 15, 25 and 50;
3. score the neural models shipped with the package (DnCNN-S, DnCNN-B, FFDNet) in the same way;
4. compare how long each method takes per image.

`PROFILE = "tiny"` (the default, and what CI runs) scores the first **2** Set12 images and runs BM3D at
σ = 25 only. With `DENOISE_TF_PROFILE=full` it scores all 12 images, mostly waiting for BM3D, which
runs on the CPU even on Colab.""",
        [
            "apply one evaluation protocol (seeded noise, unclipped input, clipped output, PSNR/SSIM at range 1);",
            "score classical filters and BM3D beside trained networks in one table;",
            "read a results table fairly: which rows compare, and what a tiny subset can and cannot say;",
            "measure the time per image of each method on your machine.",
        ],
    ),
    setup("""LIMIT = 2 if PROFILE == "tiny" else None  # Set12 images scored (None: all 12)
BM3D_SIGMAS = (25,) if PROFILE == "tiny" else (15, 25, 50)  # BM3D: about 5 s per 256x256 image on a CPU
SIGMAS = (15, 25, 50)  # noise levels on the 0-255 scale (the DnCNN paper's table)"""),
    md("""## The test images

**Set12** has twelve gray images (seven of 256×256 and five of 512×512), and DnCNN's Table III reports
results on it. `datasets.load` reads the images in name order, so image *k* is always the same file.
When no data root has it (see lesson 01), `datasets.fetch` downloads it once (about 1.2 MB,
checked by SHA-256) into the per-user cache."""),
    code("""import numpy as np
from IPython.display import Markdown, display

from denoise_tf import datasets, evaluate, metrics, plots, pretrained, report, targets

DATASET = "set12"
datasets.fetch(DATASET)
images, names = datasets.load(DATASET, limit=LIMIT)
print(DATASET, names, [image.shape for image in images])"""),
    md("""## The protocol, step by step

For every image *k* of the set and every noise level σ:

1. **Noise with a fixed seed per image.** The noise comes from
   `noise.apply(clean, "gaussian:sigma=σ", seed=[0, k])`. Every method therefore sees exactly the same
   noisy image, and the scores do not depend on which methods ran before or in what order.
2. **The noisy input is not clipped.** $y = x + n$ can go below 0 and above 1. DnCNN, FFDNet and BM3D
   all report their benchmark numbers this way, so we do the same. (A saved noisy photo *would* be
   clipped and rounded to 8 bits. `clip_input=True` gives that variant. Its numbers are a little
   different, so never mix the two in one table.)
3. **The output is clipped** to [0, 1], as any saved image would be.
4. **PSNR and SSIM at data range 1** against the clean image. SSIM uses a Gaussian window with σ = 1.5,
   as in Wang et al. 2004 and `skimage`'s `gaussian_weights=True` (see `denoise_tf.metrics`).
5. **Noise level given to the methods that take one.** FFDNet, BM3D and the classical filters are given
   the true σ. Blind models (DnCNN-B) get nothing. A DnCNN-S model is trained for a single σ and is only
   scored at that σ.

`evaluate.noisy_input` is step 1 (and step 2's variant) on its own:"""),
    code("""clean = images[0]
noisy = evaluate.noisy_input(clean, "gaussian:sigma=25", seed=[0, 0])
again = evaluate.noisy_input(clean, "gaussian:sigma=25", seed=[0, 0])
saved = evaluate.noisy_input(clean, "gaussian:sigma=25", seed=[0, 0], clip_input=True)
print("same seed, same noise:", np.array_equal(noisy, again))
print(f"unclipped input: {noisy.min():.3f} .. {noisy.max():.3f}; measured sigma {255 * np.std(noisy - clean):.2f}")
print(f"clip_input=True: {saved.min():.3f} .. {saved.max():.3f}; {len(np.unique(saved))} distinct values (8 bits)")
print(f"PSNR of the noisy input: {metrics.psnr(clean, np.clip(noisy, 0, 1)):.2f} dB")"""),
    md("""## Classical baselines

These are the methods in `denoise_tf.classical`, in roughly increasing order of sophistication:

* **mean**, **median**: a 3×3 box filter and a 3×3 median filter. They ignore σ.
* **gaussian**: a Gaussian blur whose width grows with σ.
* **bilateral**: averages only neighbours of similar brightness, so edges survive.
* **nlm** (non-local means): averages pixels whose surrounding *patches* look alike, wherever they are.
* **tv** (total variation): the smoothest image that stays close to the input; it gives piecewise-flat
  results.
* **wavelet**: shrinks small wavelet coefficients (BayesShrink).
* **bm3d**: groups similar patches into 3-D stacks and filters them together. Before deep learning it
  was the state of the art, and it is still the reference that every paper compares against.

`evaluate.evaluate(method, dataset, sigmas, limit=...)` returns one row per (image, σ), and
`summarize` averages the rows per (method, σ). `markdown_table` prints PSNR (dB) / SSIM for each
σ."""),
    code("""CLASSICAL = ["mean", "median", "gaussian", "bilateral", "nlm", "tv", "wavelet", "bm3d"]
rows = []
for method in CLASSICAL:
    sigmas = BM3D_SIGMAS if method == "bm3d" else SIGMAS
    rows += evaluate.evaluate(method, DATASET, sigmas, limit=LIMIT, color=False)
classical = evaluate.summarize(rows)
display(Markdown(evaluate.markdown_table(classical)))"""),
    md("""What to notice:

* The local filters (mean, median, gaussian) gain a few dB at σ = 15, but at σ = 50 they fall far
  behind. To remove strong noise they have to average over a wide area, which blurs edges as well. The
  median filter is designed for impulse noise, and on Gaussian noise it is among the worst.
* Methods that use σ and compare *patches* (nlm, bm3d) lead. BM3D is the strongest classical method,
  and its lead shows most clearly in SSIM, which rewards kept structure.
* Every row averages the same images and the same noise, so the rows can be compared directly. With
  the tiny profile BM3D is only run at σ = 25 (a "–" in the other columns). The `full` profile runs it
  at every level."""),
    md("""## The shipped neural models

The package ships weights that were trained with this project's own `train` (lesson 04) on Train400,
following the DnCNN recipe:

* **dncnn-s15 / s25 / s50**: DnCNN-S, 17 layers, one model per noise level.
* **dncnn-b**: a blind DnCNN with 20 layers, trained on σ drawn from 0-55. It is given no noise level.
* **ffdnet-gray**: FFDNet, trained on σ from 0 to 75. It takes σ as a second input.

**These weights are interim checkpoints, not final ones.** Training is still in progress and is
resumable from the run folders in `runs/`. The registry records how far each run got:"""),
    code(r"""lines = ["| weights | model | noise | best epoch / done / planned | val PSNR | notes |", "|---|---|---|---|---|---|"]
for name in pretrained.available():
    e = pretrained.entry(name)
    lines.append(
        f"| {name} | {e['model']} | `{e['noise']}` | {e['epochs']} / {e['epochs_done']} / {e['epochs_planned']} "
        f"| {e['val_psnr']:.2f} dB | {e['notes']} |"
    )
display(Markdown("\n".join(lines)))"""),
    md("""The protocol is the same for these models. `evaluate.evaluate` accepts a weights name just as it
accepts a classical method name. DnCNN-S models are scored only at their own σ
(`targets.model_sigmas`). Below, all rows, classical and neural, go into one table, followed by the
paper's DnCNN-S figures for full Set12."""),
    code(r"""for name in report.gray_models():
    rows += evaluate.evaluate(name, DATASET, targets.model_sigmas(name), limit=LIMIT, color=False)
summary = evaluate.summarize(rows)
table = evaluate.markdown_table(summary)
if DATASET in targets.PUBLISHED:
    table += "".join(f"\n| {label} | " + " | ".join(f"{v:.2f}" for v in values) + " |" for label, values in targets.PUBLISHED[DATASET].items())
display(Markdown(table))"""),
    md(f"""How to read it:

* Each DnCNN-S model matches its own σ and is not run at the others (hence the "–").
* DnCNN-B and FFDNet cover all three levels with one set of weights. FFDNet is told σ and DnCNN-B has
  to work it out from the image.
* The paper's numbers are averages over all 12 images. With the tiny profile we average over the first
  2 (cameraman and house), and single images differ by several dB, so the tiny figures can land above
  or below the paper's. Compare the *rows with each other*, not with the paper. Only the full set says
  how close the interim weights are to the published ones.

**Full-set numbers:** [`RESULTS.md`]({repo_url()}/blob/main/RESULTS.md) in the repository is produced
by `python -m denoise_tf report` in a checkout. It runs this same protocol on all of BSD68, Set12 and
CBSD68 for every shipped model and classical method, and caches the per-image rows in `results/`."""),
    md("""## Time per image

Each row also records `seconds`, the wall time of `denoise` alone (no loading, no scoring). The figure
shows the median over images and σ for each method, so a slow first call (imports, or the graph
tracing of a Keras model) does not dominate. A log scale is needed because the methods span four
orders of magnitude."""),
    code("""plots.time_per_image(rows, FIGURES / "05_time_per_image.png", title=f"{DATASET}: seconds per image on this machine");"""),
    md("""On a CPU, the box, median, Gaussian, bilateral, wavelet and TV filters take milliseconds, and NLM about
a tenth of a second. DnCNN (17-20 layers of 64 channels at full resolution) takes one to a few seconds,
and BM3D several. FFDNet works on a half-resolution, four-channel version of the image, so it runs a
few times faster than DnCNN. On a GPU the neural models take a few milliseconds and the
classical methods stay where they are. Times are for this machine, under its current load. Compare
them with each other, not with other machines.

Lesson 06 looks at the outputs themselves: zoomed crops, residual maps, PSNR across noise levels and
the training curves of the shipped weights."""),
    exercises(
        "05",
        [
            "Score `nlm` and `bm3d` at σ = 25 with `clip_input=True` and without. By how much does each score move, and why must a table never mix the two?",
            "Give BM3D a wrong noise level: σ = 15 and σ = 40 for noise of σ = 25. Which error costs more PSNR?",
            "Score `dncnn-s25` at σ = 15 and σ = 50 (outside its training level) and compare with `dncnn-b` at the same levels.",
            "With `LIMIT = 4`, which method's ranking changes compared with two images? What does that say about results on small subsets?",
        ],
    ),
    next_link("05"),
]
write("05", cells)
