"""Writes notebooks/03_models.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "03",
        """This lesson walks through the model families in `denoise_tf.models`. Every model

* takes a batch of images `(N, H, W, C)`, `float32` in [0, 1], and returns the same shape
  (FFDNet also takes the noise level `sigma / 255` as a second input `(N, 1)`);
* is **fully convolutional**: any height and width, odd sizes included;
* is built from `keras.layers` / `keras.ops` only, so the same `.weights.h5` file runs on the
  TensorFlow and on the JAX backend.

Models are built by name from a registry: `build(name, **options)`. An unknown name or option
raises `ValueError`. `PROFILE = "tiny"` (the default) works on a 128×128 crop; `full` on 512×512.""",
        [
            "explain residual learning: why a network that predicts the noise is easier to train;",
            "build any model of the registry by name and read its size, depth and output activation;",
            "compute a receptive field by hand and check it by measurement;",
            "run a shipped model, fold its BatchNorm and export it to TFLite.",
        ],
    ),
    setup("""import time
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import numpy as np

from denoise_tf import metrics, noise
from denoise_tf.models import available, build, impulse_response, receptive_field

print(f"Keras {keras.__version__} on {keras.backend.backend()}")"""),
    code("""for name, doc in available().items():
    print(f"{name:18s} {doc}")"""),
    md("""## Residual learning

A noisy image is the clean image plus noise: `noisy = clean + noise`. A denoiser can learn
either map:

* **direct**: `net(noisy) ≈ clean` — the net must reproduce every edge and texture of the
  image;
* **residual**: `net(noisy) ≈ noise`, output `noisy - net(noisy)` — the target is the noise,
  which for additive white Gaussian noise has no structure at all: zero mean, the same
  statistics everywhere. DnCNN (Zhang et al., 2017) showed that this is easier to learn and
  trains faster, especially with BatchNorm.

With residual learning a loss on the *output image* equals the loss on the *predicted noise*
(`clean - (noisy - r) = r - noise`), so training code does not change. Below: a clean image,
its noisy version (Gaussian, sigma = 25 on the 0-255 scale) and the **true residual**
`noisy - clean`, the target of a residual network."""),
    code(r"""SIZE = 128 if PROFILE == "tiny" else 512
SIGMA = 25
from denoise_tf import demo

image = demo.sample_images(color=False, limit=2)[0][1]  # the cameraman
top, left = max(0, (image.shape[0] - SIZE) // 2 - 60), max(0, (image.shape[1] - SIZE) // 2)
clean = image[top : top + SIZE, left : left + SIZE]
noisy = noise.apply(clean, f"gaussian:sigma={SIGMA}", seed=0).astype(np.float32)
residual = noisy - clean
print(clean.shape, clean.dtype, f"residual std = {residual.std() * 255:.1f} / 255")

fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
axes[0].imshow(clean[..., 0], cmap="gray", vmin=0, vmax=1)
axes[0].set_title("clean")
axes[1].imshow(noisy[..., 0], cmap="gray", vmin=0, vmax=1)
axes[1].set_title(f"noisy (sigma={SIGMA}), {metrics.psnr(clean, noisy):.1f} dB")
im = axes[2].imshow(residual[..., 0], cmap="RdBu_r", vmin=-0.25, vmax=0.25)
axes[2].set_title("noise = noisy - clean\n(target of a residual net)")
fig.colorbar(im, ax=axes[2], fraction=0.046)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
fig.savefig(FIGURES / "03_residual_learning.png", dpi=120)
plt.show()"""),
    md("""## The model families

**`simple_cnn`** — the simple CNN of a course write-up: five 3x3 convs with `same` padding,
ReLU widths 8-16-8-4 and a 1-filter output conv **without activation** (linear output). It
predicts the clean image directly. 2,737 weights: a baseline that shows how far a tiny net
gets.

**`sequential_cnn`** — a `keras.Sequential` stack of ReLU convs with a **sigmoid** output,
from a write-up that trained on paired real noisy / clean smartphone photos (SIDD, RGB,
256 x 256) with Adam + MSE. The write-up gives the layout but not the widths; we use three
64-filter convs. The sigmoid keeps the output inside (0, 1), and it predicts the image
directly (a `Sequential` model has no skip path, so no residual output).

**`dncnn`** — DnCNN (Zhang et al., 2017): 17 (or 20) 3x3 convs of 64 filters with
BatchNorm + ReLU in the middle and a **residual output**. The reference model of this project.

**`ffdnet`** — FFDNet (Zhang et al., 2018): pixel-unshuffles the image to half resolution
(4 sub-images per channel), appends a noise-level map `sigma/255` as an extra channel, runs
a DnCNN-like stack and pixel-shuffles back. One network for all noise levels; `sigma` is a
knob at inference. Half resolution makes it about 4x cheaper per layer and doubles its
receptive field.

**`dilated_residual`** — a write-up's "CNN-based Image Denoiser": an input conv, `blocks`
residual blocks (conv-BN-ReLU-conv-BN + skip, then ReLU or LeakyReLU), an output conv, and a
dilation schedule with one entry per conv position: `[1, 1, 1, 2, 1, 1, 1]` for the
write-up's 5 blocks. Dilation spreads a 3x3 kernel over 5x5 pixels at no extra cost, so the
receptive field grows faster. Kernels 3x3 or 5x5, 64 filters, colour by default, global
residual output. The write-up ran its examples in **two passes** (denoising its own output
again); that is an inference setting (`passes`), not part of the network.

**`unet`** — a small U-Net: two 3x3 convs per scale, max-pooling down, transposed convs up,
skip connections that concatenate encoder features, 32-64-128 filters for 2 levels, residual
output. Working at 1/2 and 1/4 resolution gives it a large receptive field cheaply. Odd sizes
are handled inside the model: the input is mirror-padded to a multiple of `2 ** levels` and
the output cropped back."""),
    code("""rows = []
for name in available():
    model = build(name)
    convs = [l for l in model.layers if hasattr(l, "kernel_size")]
    last = convs[-1]
    residual_out = any(isinstance(l, keras.layers.Subtract) for l in model.layers)
    rows.append(
        (name, model.inputs[0].shape[-1], len(convs), model.count_params(), receptive_field(model),
         "noise (residual)" if residual_out else "image", last.activation.__name__)
    )

print("| model | channels | convs | parameters | receptive field | predicts | output activation |")
print("|---|---:|---:|---:|---:|---|---|")
for name, ch, n_conv, params, rf, target, act in rows:
    print(f"| {name} | {ch} | {n_conv} | {params:,} | {rf} x {rf} | {target} | {act} |")"""),
    md("""Summaries of the two smallest models. Note the shapes `(None, None, None, C)`: the
height and width are not fixed, so one trained model denoises any image size."""),
    code("""build("simple_cnn").summary()
build("sequential_cnn").summary()"""),
    md("""## Receptive field

An output pixel depends on a square of input pixels: the **receptive field**. Each conv with
kernel `k` and dilation `d` adds `(k - 1) * d` pixels at the resolution it runs at; a 2x
down-sampling doubles the cost of every later conv in input pixels. By hand:

* `simple_cnn`: 5 convs of 3x3 → `1 + 5 * 2 = 11`;
* `dncnn` (17 convs): `1 + 17 * 2 = 35`;
* `ffdnet` gray (15 convs at half resolution): `2 * (1 + 15 * 2) = 62`;
* `dilated_residual`: input and output conv (`2 + 2`) plus two convs per block with
  dilations 1, 1, 2, 1, 1 (`2 * 2 * 6 = 24`) → `1 + 4 + 24 = 29`;
* `unet` (2 levels): `1 + 4 (scale 1) + 1 (pool) + 8 (scale 2) + 2 (pool) + 16 (scale 4)
  + 8 + 4 (decoder) = 44`.

`receptive_field(model)` computes it from the layers. We can also *measure* it: change one
input pixel and see which output pixels change."""),
    code(r"""shown = {"simple_cnn": {}, "dncnn": {"depth": 17}, "dilated_residual": {"channels": 1}, "unet": {}}
fig, axes = plt.subplots(1, len(shown), figsize=(3 * len(shown), 3.2))
for ax, (name, options) in zip(axes, shown.items()):
    model = build(name, **options)
    changed, measured = impulse_response(model)
    ax.imshow(changed, cmap="gray")
    ax.set_title(f"{name}\ncomputed {receptive_field(model)}, measured {measured}")
    ax.axis("off")
fig.suptitle("output pixels changed by one input pixel (untrained weights)")
fig.tight_layout()
fig.savefig(FIGURES / "03_receptive_fields.png", dpi=120)
plt.show()"""),
    md("""The receptive field is a square, but the *effective* one — where an input pixel changes the
output noticeably — is roughly round: paths through the middle of the square are far more
numerous than paths to its corners (see DnCNN). A few pixels inside the square do not change
because ReLUs cut their paths. For the U-Net, which input pixels reach an output pixel
through the pooled scales depends on where it sits on the 2x2 pooling grid;
`receptive_field` reports the largest case.

## One forward pass

The models above are untrained (random weights), so their outputs are not denoised images
yet — a residual net with random weights subtracts a random "noise" estimate, a sigmoid net
outputs about 0.5 everywhere. We run each one once on the noisy sample (gray: `channels=1`)
to check shapes and time a call; training comes in the next lessons. Then the DnCNN-S weights
for σ = 25 that ship with the package show what a *trained* residual net predicts."""),
    code("""batch = noisy[None]  # (1, H, W, 1)
outputs = {}
for name in available():
    options = {"channels": 1}
    model = build(name, **options)
    inputs = [batch, np.full((1, 1), SIGMA / 255, np.float32)] if name == "ffdnet" else batch
    model.predict(inputs, verbose=0)  # compile for this size
    start = time.perf_counter()
    out = model.predict(inputs, verbose=0)
    seconds = time.perf_counter() - start
    outputs[name] = out[0]
    print(f"{name:18s} in {batch.shape} -> out {out.shape} {out.dtype}, {seconds * 1e3:6.1f} ms, "
          f"range [{out.min():.2f}, {out.max():.2f}]")"""),
    code(r"""from denoise_tf import pretrained

dncnn = pretrained.load("dncnn-s25")  # the shipped weights (sha256-checked)
denoised = dncnn.predict(batch, verbose=0)[0]
predicted_noise = noisy - denoised
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
panels = [
    (noisy, f"noisy, {metrics.psnr(clean, noisy):.1f} dB", "gray", (0, 1)),
    (denoised, f"DnCNN-S25 output, {metrics.psnr(clean, np.clip(denoised, 0, 1)):.1f} dB", "gray", (0, 1)),
    (residual, "true noise", "RdBu_r", (-0.25, 0.25)),
    (predicted_noise, "predicted noise = input - output", "RdBu_r", (-0.25, 0.25)),
]
for ax, (image, title, cmap, (lo, hi)) in zip(axes, panels):
    ax.imshow(image[..., 0], cmap=cmap, vmin=lo, vmax=hi)
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()
fig.savefig(FIGURES / "03_forward_pass.png", dpi=120)
plt.show()
print(f"std of true noise {residual.std():.3f}, of predicted noise {predicted_noise.std():.3f}, "
      f"correlation {np.corrcoef(residual.ravel(), predicted_noise.ravel())[0, 1]:.2f}")"""),
    md("""## Deployment: fold BatchNorm, export to TFLite

At inference a BatchNorm layer is a fixed per-channel scale and shift, so it can be folded into the
convolution before it (`w' = w * gamma / sqrt(var + eps)`, `b' = (b - mean) * gamma / sqrt(var + eps) + beta`):
same outputs, fewer operations. `denoise_tf.export` folds it and writes a TFLite file (float32,
float16 or INT8 with a calibration set), which `load_exported` hands back to the same `denoise()`
call. The repository's `benchmarks/results_export.md` has the timings at 512x512 and what INT8 costs in PSNR."""),
    code("""import tempfile

from denoise_tf import export, inference

dncnn_s25 = pretrained.load("dncnn-s25")
folded = export.fold_batchnorm(dncnn_s25)
tflite_path = export.export(dncnn_s25, Path(tempfile.mkdtemp()) / "dncnn-s25.tflite")
paths = {"Keras": dncnn_s25, "BN folded": folded, "TFLite float32": export.load_exported(tflite_path)}
for label, runnable in paths.items():
    inference.denoise(runnable, noisy)  # first call compiles
    start = time.perf_counter()
    restored = inference.denoise(runnable, noisy)
    print(f"{label:15s} PSNR {metrics.psnr(clean, restored):.3f} dB   {1000 * (time.perf_counter() - start):6.0f} ms")"""),
    md("""## Summary

* `noisy = clean + noise`; residual models (`dncnn`, `dilated_residual`, `unet`) predict
  the noise and output `noisy - noise`; `ffdnet` predicts the clean sub-images (helped by the
  noise-level map), and the two write-up baselines (`simple_cnn`, linear output;
  `sequential_cnn`, sigmoid output) predict the image.
* The receptive field grows by `(k - 1) * d` per conv at the conv's resolution: depth,
  dilation and down-sampling are three ways to see more context.
* All models take any image size and run on TensorFlow or JAX with the same weights."""),
    exercises(
        "03",
        [
            "Build `dilated_residual` with `kernel_size=5`. Predict its parameter count and receptive field, then check both.",
            "Give `unet` `levels=3`. Work out its receptive field by hand before calling `receptive_field`, then measure it with `impulse_response`.",
            "Build `dncnn` with `depth=10` and `depth=20`. How do the parameters, the receptive field and the time of one call grow with depth?",
            "Run the shipped `dncnn-s25` on the crop with σ = 50 noise instead of 25. What happens to the PSNR and to the predicted noise map, and why?",
        ],
    ),
    next_link("03"),
]
write("03", cells)
