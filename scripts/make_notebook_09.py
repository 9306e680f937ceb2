"""Writes notebooks/09_noisy_images_only.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "09",
        """Every denoiser so far learnt from pairs: a noisy image and its clean original. Often there is no
clean original, only noisy photos. This lesson denoises with noisy images alone, in three ways:
**zero-shot** on one image (a small network fitted to that image's own half-size pairs),
**Neighbor2Neighbor** training on a folder of noisy images, and **adapting** a shipped colour model
to camera noise. It compares them with BM3D and with a network trained on clean pairs.

`PROFILE = "tiny"` (the default) fits the zero-shot network for a few hundred steps and trains a
five-layer network for a few seconds on the bundled samples; `full` fits 2,000 steps and trains the
shipped recipe (DnCNN-S, depth 17) on a noisy copy of Train400, which needs a GPU.""",
        [
            "say why a network can learn from noisy images only when the noise is independent from pixel to pixel;",
            "split a noisy image into Neighbor2Neighbor's two sub-images and check that no pixel is its own target;",
            "denoise one image zero-shot and score it beside BM3D and a supervised DnCNN;",
            "train a denoiser on a folder of noisy images with `objective: neighbor2neighbor`;",
            "denoise camera noise with pixel-shuffle down-sampling of the chroma channels (`chroma_stride`).",
        ],
    ),
    setup("""SIGMA = 25  # Gaussian noise on the 0-255 scale
ZS_STEPS = 500 if PROFILE == "tiny" else 2000  # zero-shot fitting steps (the paper: 2,000)"""),
    md("""## 1 · The idea: a noisy target is as good as a clean one, on average

Train a network $f$ to map a noisy image $y_1 = x + n_1$ onto another noisy image $y_2 = x + n_2$ of
the same scene, with $n_2$ of mean zero and independent of $y_1$. The expected squared error is

$$E\\,|f(y_1) - y_2|^2 = E\\,|f(y_1) - x|^2 + E\\,|n_2|^2,$$

because the cross term $E[(f(y_1) - x)\\, n_2]$ vanishes. The second term does not depend on $f$, so
the best $f$ for the noisy target is the best $f$ for the clean one (Noise2Noise). With a single
noisy photo there is no second copy, but neighbouring pixels show nearly the same scene. If the noise
is **independent from pixel to pixel**, two images made of neighbouring pixels form such a pair.
If the noise is correlated between neighbours (camera chroma noise, section 4), the network learns
to keep it, because the target then predicts it.

**Neighbor2Neighbor** (Huang et al., CVPR 2021) cuts the image into 2×2 cells. In each cell it picks
one pixel at random for the sub-image $g_1(y)$ and, for $g_2(y)$, one of the pixels that share an edge
with it. `cell_choices` lists the allowed (g1, g2) pairs, positions `2 * row + col` in the cell:"""),
    code("""import numpy as np

from denoise_tf import datasets, noise, plots, selfsupervised

pairs = selfsupervised.cell_choices(2, 1)
print(len(pairs), "choices:", pairs)
print("a pixel paired with itself:", any(a == b for a, b in pairs))

images, names = datasets.samples(color=False)
clean = images[names.index("camera.png")]
noisy = noise.apply(clean, f"gaussian:sigma={SIGMA}", seed=0)
choices = selfsupervised.draw_choices(np.random.default_rng(0), 1, *clean.shape[:2])
g1, g2 = (np.asarray(g)[0] for g in selfsupervised.subsample(noisy[None], choices))
print("noisy", noisy.shape, "-> sub-images", g1.shape, g2.shape)
plots.side_by_side(
    [[noisy, g1, g2, np.abs(g1 - g2)]],
    [[f"noisy σ={SIGMA} {noisy.shape[:2]}", f"g1(y) {g1.shape[:2]}", f"g2(y) {g2.shape[:2]}", "|g1 - g2|"]],
    size=2.8, path=FIGURES / "09_subsampler.png",
);"""),
    md("""The two sub-images look the same at half size; their difference is mostly noise, with a little
of the image's edges (the two pixels are one apart, so their clean values differ slightly; the
training loss has a regularizer for that). The network is trained to map $g_1(y)$ onto $g_2(y)$:
every target pixel is a *different* pixel from the one the network sees at that position, so no
pixel is ever its own target. Were it, the network would learn the identity and keep the noise."""),
    md("""## 2 · Zero-shot: one noisy image, nothing else

Zero-Shot Noise2Noise (Mansour & Heckel, CVPR 2023) needs no training set and no noise level. Two
fixed 2×2 diagonal filters make two half-size images of the noisy image; a tiny network (about 21k
parameters) is fitted for `steps` Adam steps to denoise each towards the other, then applied once to
the whole image. `max_seconds` caps the fitting time. Beside it: **BM3D** (told σ, the classical
reference) and **DnCNN-S σ=25** (`dncnn-s25`), trained on clean/noisy pairs at exactly this noise."""),
    code("""import importlib.util
import time

from IPython.display import Markdown, display

from denoise_tf import metrics, zeroshot, zoo

outputs, seconds = {}, {}
start = time.perf_counter()
outputs["zero-shot"] = zeroshot.denoise(noisy, steps=ZS_STEPS, max_seconds=300, seed=0, progress=False)
seconds["zero-shot"] = time.perf_counter() - start
if importlib.util.find_spec("bm3d") is None:
    print("BM3D skipped: the bm3d package is not installed (pip install bm3d)")
else:
    start = time.perf_counter()
    outputs["bm3d"] = zoo.make_denoiser("bm3d", sigma=SIGMA).denoise(noisy)
    seconds["bm3d"] = time.perf_counter() - start
start = time.perf_counter()
outputs["dncnn-s25"] = zoo.make_denoiser("dncnn-s25").denoise(noisy)
seconds["dncnn-s25"] = time.perf_counter() - start

table = ["| method | what it learnt from | PSNR (dB) | SSIM | seconds |", "|---|---|---:|---:|---:|"]
table.append(f"| noisy input | | {metrics.psnr(clean, noisy):.2f} | {metrics.ssim(clean, noisy):.3f} | |")
source = {"zero-shot": f"this noisy image only ({ZS_STEPS} steps)", "bm3d": "nothing (told σ)", "dncnn-s25": "clean/noisy pairs, σ = 25"}
for name, out in outputs.items():
    table.append(f"| {name} | {source[name]} | {metrics.psnr(clean, out):.2f} | {metrics.ssim(clean, out):.3f} | {seconds[name]:.1f} |")
display(Markdown("\\n".join(table)))
plots.side_by_side(
    [[clean, noisy] + list(outputs.values())],
    [["clean", f"noisy σ={SIGMA}"] + [f"{name}\\n{metrics.psnr(clean, out):.2f} dB" for name, out in outputs.items()]],
    size=2.6, path=FIGURES / "09_zero_shot.png",
);"""),
    md("""Zero-shot gains several dB over the noisy input from the image alone, but here stays below BM3D and the
supervised network, which both know more: BM3D is told σ, and DnCNN-S has seen thousands of
clean/noisy pairs at this very noise. More steps help (the full profile fits 2,000, the paper's
number); the README gives what 2,000 steps reach on BSD68 and Set12. Its strength is that it
needs no assumption but pixel-independent noise of mean zero, and no training data."""),
    md("""## 3 · Training on a folder of noisy images

`objective: neighbor2neighbor` in a training config trains any model with the sub-sampler of
section 1. The recipe `n2n_train400_s25` trains DnCNN-S (depth 17, random start) on one noisy copy of
each Train400 image: the way you would train on a folder of noisy photos. The clean halves of the
pairs are used only to score the held-out validation pairs, never in training.

`make_paired_set` writes such a folder: each clean image beside one noisy copy, noise drawn once and
rounded to 8 bits as a camera writes it. The tiny profile makes it from the four bundled samples
(two held out for validation) and trains a five-layer network for a few epochs."""),
    code("""import tempfile
from pathlib import Path

from denoise_tf.config import TrainConfig
from denoise_tf.train import train

WORK = FIGURES / "09_work"  # data and run folders of this lesson
WORK.mkdir(parents=True, exist_ok=True)
source = "samples" if PROFILE == "tiny" else "train400"  # full: Train400 (fetched once when missing)
if source != "samples":
    datasets.fetch(source)
written = datasets.make_paired_set(
    source=source, out=WORK / f"{source}_s{SIGMA}_pairs", noise=f"gaussian:sigma={SIGMA}", color=False, overwrite=True
)
print(len(written), "noisy/clean pairs, e.g.", written[0][0].name)

config = TrainConfig.load("n2n_train400_s25", tiny=(PROFILE == "tiny"))
config.paired_data = str(WORK / f"{source}_s{SIGMA}_pairs")
config.output_dir = tempfile.mkdtemp(prefix="runs_", dir=WORK)  # a fresh folder each run
if PROFILE == "tiny":
    config.epochs, config.steps_per_epoch = 8, 10
print({k: getattr(config, k) for k in ("objective", "model", "model_options", "paired_data", "val_holdout", "batch_size", "epochs", "steps_per_epoch")})
history, run_dir = train(config, verbose=2)
print("run folder:", run_dir)"""),
    md("""The run folder is that of any run (best weights by validation PSNR, `log.csv`, a backup to
resume from). The curves come from its `log.csv`; the dashed line is the noisy validation input."""),
    code("""import csv

rows = list(csv.DictReader((run_dir / "log.csv").open()))
val_pairs = sorted(written)[-config.val_holdout :]  # the held-out pairs (the last ones by name)
val_noisy = np.mean([metrics.psnr(datasets.read_image(c, color=False), datasets.read_image(n, color=False)) for n, c in val_pairs])
figure = plots.training_curves(run_dir, path=None, labels=["neighbor2neighbor"])
figure.axes[1].axhline(val_noisy, color="gray", linestyle="--", label="noisy input")
figure.axes[1].legend(fontsize=8)
figure.savefig(FIGURES / "09_n2n_curves.png", dpi=110)
print(f"validation PSNR: epoch 1 {float(rows[0]['val_psnr']):.2f} dB, last {float(rows[-1]['val_psnr']):.2f} dB, "
      f"best {max(float(r['val_psnr']) for r in rows):.2f} dB; noisy input {val_noisy:.2f} dB")"""),
    md("""From a random start, learning from noisy targets is slow: the tiny run is far too short to denoise
well, and even the full recipe on a CPU budget stays below zero-shot and BM3D (README, "Training on
noisy images only", and RESULTS.md, "Noisy images only"). The objective's strength is elsewhere:
adapting a model that already denoises to noise it has not seen, with no clean images at all."""),
    md("""## 4 · Camera noise: adapting a shipped colour model

Simulated camera noise (`iso:`) breaks the assumption of section 1 in its colour part: in the
opponent colour space the luminance noise is white, but the two chroma channels carry noise blurred
over about 2 pixels, so neighbouring chroma pixels share it. The recipe `n2n_adapt_iso` therefore
gives each part what suits it:

* **luminance:** Neighbor2Neighbor (`objective: neighbor2neighbor:channels=luminance`) fine-tunes the
  shared gray network of `cdncnn-opponent` on the luminance of your noisy photos;
* **chroma:** pixel-shuffle down-sampling (`model_options: {chroma_stride: 6}`): the same network
  denoises each of the 36 phases of a chroma channel, whose neighbouring pixels are 6 apart, where
  the chroma noise is nearly white.

`chroma_stride` changes how the network is applied, not its weights, so its effect can be seen
without training: the shipped weights load into `dncnn_opponent(chroma_stride=6)` unchanged."""),
    code("""from denoise_tf import inference
from denoise_tf.models.dncnn import dncnn_opponent

rgb, rgb_names = datasets.samples(color=True)
photo = rgb[rgb_names.index("astronaut.png")]
camera_noisy = noise.apply(photo, "iso:iso=6400", seed=0)
shipped = zoo.load_model("cdncnn-opponent")
strided = dncnn_opponent(depth=20, chroma_stride=6)
strided.set_weights(shipped.get_weights())  # the same weights, the chroma channels in 36 phases
iso_outputs = {
    "cdncnn-opponent": zoo.make_denoiser("cdncnn-opponent").denoise(camera_noisy),
    "+ chroma_stride 6": inference.denoise(strided, camera_noisy),
}
for name, out in {"noisy input": camera_noisy, **iso_outputs}.items():
    print(f"{name:>18}: PSNR {metrics.psnr(photo, out):.2f} dB, SSIM {metrics.ssim(photo, out):.3f}")
plots.side_by_side(
    [[photo, camera_noisy] + list(iso_outputs.values())],
    [["clean", "iso:iso=6400"] + [f"{name}\\n{metrics.psnr(photo, out):.2f} dB" for name, out in iso_outputs.items()]],
    size=2.8, path=FIGURES / "09_chroma_stride.png",
);"""),
    md("""Look at the flat areas: the shipped network applied as is leaves coloured blotches, the chroma
noise it cannot tell from the image; with the chroma phases they fade. To adapt the luminance part
to your own camera, point the recipe at a folder of its noisy photos (no clean images; no
validation either, so the best weights follow the training loss):

```bash
python -m denoise_tf train configs/n2n_adapt_iso.yaml --set train_data=path/to/noisy_photos
python -m denoise_tf denoise path/to/noisy_photos out/ --model runs/n2n_adapt_iso
```

The README's "Training on noisy images only" section gives the measured CBSD68 scores of the
adapted run beside the untrained network with `chroma_stride: 6`, CBM3D and a supervised model."""),
    exercises(
        "09",
        [
            "Draw the sub-images with `cell_choices(4, 2)` (`draw_choices(..., stride=4, distance=2)` and `subsample(..., stride=4, distance=2)`). How big are they, and how far apart are the two pixels of a pair?",
            "Run zero-shot with 100, 500 and 2,000 steps on the same noisy image. How does its PSNR grow with the steps, and how long does each fit take?",
            "Give zero-shot noise that is correlated between neighbours: blur Gaussian noise with `scipy.ndimage.gaussian_filter(n, 1.5)` before adding it. What happens to the zero-shot output, and why?",
            "Train the tiny Neighbor2Neighbor run for 30 epochs instead of 8. Does validation PSNR pass the noisy input? Then train the same model with `objective: supervised` on the same pairs and compare.",
            "Apply `cdncnn-opponent` with `chroma_stride` 2, 4, 6 and 8 to the ISO 6400 image, and also at `iso:iso=1600`. Which stride is best at each level?",
        ],
    ),
    next_link("09"),
]
write("09", cells)
