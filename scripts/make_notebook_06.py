"""Writes notebooks/06_visualization.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "06",
        """Lesson 05 reduced each denoiser to two numbers per noise level. Here we look at the pictures behind
those numbers. Two methods with the same PSNR can fail in very different ways: one leaves grain,
another paints smooth "watercolour" patches, and a third wipes out fine texture.

The figures:

1. **original / noisy / denoised side by side** for several denoisers (the comparison every denoising
   write-up opens with);
2. **zoomed crops**, where the differences actually show;
3. **residual maps**: what each method removed and what error it left, with colour bars;
4. **PSNR across noise levels**: one curve per denoiser;
5. the **training curves** of the shipped weights, from the training logs that ship with them.

Every figure is also saved under `figures/`. `PROFILE = "tiny"` (the default, what CI runs) uses one
Set12 image and three noise levels for the curves. `DENOISE_TF_PROFILE=full` uses three images for
the pictures and all of Set12 at seven noise levels (with BM3D) for the curves.""",
        [
            "compare denoisers on zoomed crops, where equal PSNRs stop looking equal;",
            "read residual maps: what a method removed and what error it left;",
            "draw PSNR against σ and spot where a blind model leaves its training range;",
            "read training curves: when a run had converged and when it had not.",
        ],
    ),
    setup("""N_IMAGES = 1 if PROFILE == "tiny" else 3  # images in the side-by-side figure
SIGMA = 25  # noise level of the pictures (0-255 scale)
DENOISERS = ["gaussian", "nlm", "bm3d", "dncnn-s25", "ffdnet-gray"]  # BM3D: a few seconds per image
CURVE_SIGMAS = (5, 25, 50) if PROFILE == "tiny" else (5, 15, 25, 35, 50, 65, 75)
CURVE_LIMIT = 1 if PROFILE == "tiny" else None  # Set12 images per point (None: all 12)
CURVE_MODELS = ["gaussian", "nlm", "dncnn-b", "ffdnet-gray"] + ([] if PROFILE == "tiny" else ["bm3d"])"""),
    md("""## Images, noise, denoisers

We use the images and the noise of lesson 05's protocol: Set12 in name order (fetched once when no
data root has it, about 1.2 MB), and Gaussian noise with seed `[0, k]` for image *k*, not clipped.
`zoo.make_denoiser(name, sigma)` returns a neural or a classical denoiser behind the same
`.denoise(image)` call. Each denoiser is given the true σ, except DnCNN-S25, which is trained for
σ = 25 alone."""),
    code("""from denoise_tf import datasets, evaluate, plots, zoo

DATASET = "set12"
datasets.fetch(DATASET)
images, names = datasets.load(DATASET, limit=N_IMAGES)
noisy = [evaluate.noisy_input(clean, f"gaussian:sigma={SIGMA}", seed=[0, k]) for k, clean in enumerate(images)]
denoisers = {name: zoo.make_denoiser(name, sigma=SIGMA) for name in DENOISERS}
outputs = {name: [denoiser.denoise(image) for image in noisy] for name, denoiser in denoisers.items()}
print(DATASET, names, "sigma", SIGMA, "->", list(outputs))"""),
    md("""## 1 · Original, noisy, denoised

One row per image. Each title gives PSNR (dB) / SSIM against the original. At full size most outputs
look "clean", and the differences between them are hard to see."""),
    code("""plots.comparison(images, noisy, outputs, FIGURES / "06_side_by_side.png", names=names);"""),
    md("""## 2 · Zoomed crops

Enlarging a 64×64 region (the red box) shows what the averages hide. The crops use nearest-neighbour
interpolation, so single pixels stay visible:

* the **Gaussian blur** cannot tell noise from edges. A blur wide enough to remove the noise would erase
  the edges too, so its tuned width leaves visible grain and still softens the edges;
* **NLM** leaves flat regions clean but smears fine texture, and leaves faint blotches;
* **BM3D** keeps edges but can add ringing and faint patch artefacts;
* the **CNNs** keep edges sharp and flat areas clean, and fine texture (grass, fabric) is where the
  methods differ most.

`plots.zoom_grid(images, titles, box)` takes the box as `(top, left, height, width)` in pixels."""),
    code("""BOX = (88, 100, 64, 64)  # on Set12's cameraman: the camera and the tripod head
first = [images[0], noisy[0]] + [out[0] for out in outputs.values()]
plots.zoom_grid(first, ["original", f"noisy σ={SIGMA}"] + list(outputs), BOX, FIGURES / "06_zoom.png");"""),
    md("""## 3 · Residual maps

Two maps per denoiser, on the 0-255 scale:

* **top, noisy − denoised**: what the method *removed*. An ideal denoiser removes exactly the noise,
  so this map should look like structureless grain. Edges or texture visible here were removed along
  with the noise. This is the "method noise" view of Buades et al., and it is what DnCNN's residual
  learning predicts directly.
* **bottom, |denoised − clean|**: the error that *remains*. The mean of its square is the MSE behind
  the PSNR. It concentrates on edges and texture, where noise and signal are hardest to tell apart.

Each row shares one colour scale, shown in its colour bar, so the maps can be compared directly."""),
    code("""plots.residual_maps(images[0], noisy[0], [out[0] for out in outputs.values()], list(outputs), FIGURES / "06_residuals.png");"""),
    md("""## 4 · PSNR across noise levels

Each curve is the mean PSNR over the images at each σ (`evaluate.evaluate` + `evaluate.summarize`),
and the dashed line is the noisy input. `plots.psnr_curves` takes the `summarize` output directly. The
models in the curves are:

* **DnCNN-B** (blind): trained on σ ≤ 55, so watch how it behaves above 55 in the `full` profile;
* **FFDNet**: told σ, and trained up to 75;
* two classical methods for reference (plus BM3D with the `full` profile; the tiny profile leaves it
  out to stay fast).

With the tiny profile each point is a single image, so the curves are noisy. `RESULTS.md`
(`python -m denoise_tf report`) has the same figure on all of Set12, with BM3D."""),
    code("""rows = []
for name in CURVE_MODELS:
    rows += evaluate.evaluate(name, DATASET, CURVE_SIGMAS, limit=CURVE_LIMIT, color=False)
summary = evaluate.summarize(rows)
plots.psnr_curves(summary, FIGURES / "06_psnr_vs_sigma.png");"""),
    md("""The gain over the noisy input (the gap between a curve and the dashed line) grows with σ, because
there is more noise to remove. At σ = 5 there is little noise, and any detail lost while removing it
costs more than the noise itself. Here every method lands within a few dB of the input. Low σ is also
where the interim neural weights are weakest. In the tiny run NLM beats both of them at σ = 5, because
they have seen few low-noise patches so far (blind training draws σ uniformly, so σ < 10 is a small
share)."""),
    md("""## 5 · Training curves of the shipped weights

The package ships the training log of every run behind its weights (`pretrained.training_logs(name)`;
in the repository they are the `log.csv` files of the run folders in `runs/`). A log has one row per epoch: the
training loss (MSE on 40×40 patches for DnCNN-S, 50×50 for DnCNN-B and FFDNet) and the PSNR on 8
images of `train400_val`. Those are gray versions of CBSD432 images that Train400 does not contain.
The epoch with the best validation PSNR is the one that ships. A curve that is still rising means the run had not finished:
these are the interim checkpoints mentioned in lesson 05.

Validation PSNR is measured at each run's *own* training noise: σ = 15, 25 or 50 for the DnCNN-S runs,
and a σ drawn per image from the training range for the blind runs. Compare the curves for their
shape and progress, not their height."""),
    code("""from denoise_tf import pretrained

RUNS = [log for name in ("dncnn-s15", "dncnn-s25", "dncnn-s50", "dncnn-b", "ffdnet-gray") for log in pretrained.training_logs(name)[:1]]
print([run.name for run in RUNS])
plots.training_curves(RUNS, FIGURES / "06_training_curves.png");"""),
    md("""## Summary

* Full-size side-by-side figures flatter every method. Zoomed crops and residual maps show how each
  one fails.
* A good denoiser's *removed* map is featureless grain, and its *error* map is dark except at edges.
* PSNR-vs-σ curves show which methods stay robust as the noise grows, and how a blind model does
  outside its training range.
* The saved figures are in `figures/06_*.png`. `RESULTS.md` has the full-set numbers."""),
    exercises(
        "06",
        [
            "Move the zoom box to a textured region of another Set12 image (`BOX`). Which denoiser loses the most texture there?",
            "Add `median` and `tv` to `DENOISERS`. What do their *removed* maps show that the CNNs' maps do not?",
            "Extend `CURVE_SIGMAS` to 65 and 75. Where does DnCNN-B, trained on σ ≤ 55, fall behind FFDNet?",
            "Draw the training curves of every stage of `dncnn-b` (all of `pretrained.training_logs('dncnn-b')`). Where does the second stage start, and what changed?",
        ],
    ),
    next_link("06"),
]
write("06", cells)
