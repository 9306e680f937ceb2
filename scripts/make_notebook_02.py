"""Writes notebooks/02_noise_simulation.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "02",
        """A denoiser learns from pairs `(noisy, clean)`. Real pairs are rare and expensive, so most training
uses clean images with **simulated** noise. The noise model is therefore part of the method: a
network trained on one kind of noise removes *that* kind well and may fail on another. This lesson
walks through every noise kind in `denoise_tf.noise`, shows what each does to the same images,
measures it (residual histograms, PSNR of the noisy input), and ends with the mixed noise of the
CleanVision project and the two TensorFlow-side tools: the `tf.data` path and `NoiseLayer`.

Conventions: images are `float32` in `[0, 1]` (`(H, W, C)` one image, `(N, H, W, C)` a batch), noise
levels `sigma` are on the **0-255 scale** (σ = 25 means a standard deviation of 25/255), and every
random call takes a `seed` (same seed, same noise).

`PROFILE = "tiny"` (the default, what CI runs) uses small crops and two Set12 images; set
`DENOISE_TF_PROFILE=full` (or `PROFILE = "full"` in the first code cell) for bigger crops and all
of Set12.""",
        [
            "write a noise as a text spec (`gaussian:sigma=25`, ranges, lists) and apply it with a seed;",
            "tell the noise kinds apart by their residuals (Gaussian, Poisson, impulse, speckle, camera ISO, JPEG, mixed);",
            "predict the PSNR of a noisy input from σ, and estimate σ from a noisy image;",
            "use the TensorFlow side: stateless `tf.data` noise and the Keras `NoiseLayer`.",
        ],
    ),
    setup("""CROP = 128 if PROFILE == "tiny" else 256  # side of the centre crops shown
N_GRAY = 2 if PROFILE == "tiny" else 12  # Set12 images used for the measurements"""),
    md("""## Images

Gray images come from **Set12**. When no data root has it (lesson 01), `datasets.fetch` downloads
it once (12 files, about 1.2 MB, checked by SHA-256) into the per-user cache. Colour ones come from
the small sample set bundled with the package (`datasets.load("samples")`). Everything is
centre-cropped to `CROP × CROP`."""),
    code("""import matplotlib.pyplot as plt
import numpy as np

from denoise_tf import datasets, metrics, noise, plots

colour, colour_names = datasets.load("samples", color=True)
keep = [k for k, name in enumerate(colour_names) if name != "camera.png"]  # camera.png is gray
colour, colour_names = [colour[k] for k in keep], [colour_names[k] for k in keep]
datasets.fetch("set12")
gray, gray_names = datasets.load("set12", limit=N_GRAY)

gray_crops, colour_crops = [], []  # centre crops of at most CROP x CROP
for source, crops in ((gray, gray_crops), (colour, colour_crops)):
    for image in source:
        top, left = max(0, (image.shape[0] - CROP) // 2), max(0, (image.shape[1] - CROP) // 2)
        crops.append(image[top : top + CROP, left : left + CROP])
print("gray:", gray_names, [i.shape for i in gray_crops])
print("colour:", colour_names, [i.shape for i in colour_crops])"""),
    md("""## Noise kinds and the spec language

Every kind is registered with its parameters and their allowed ranges. A **spec** names a kind and
its parameters as text, so configs and the command line can carry it:

* `"gaussian:sigma=25"` — one parameter; missing ones take their defaults;
* `"gaussian:sigma=0-55"` — a range `low-high`: a value is drawn **per image** (blind training);
* `"mixed:kinds=gaussian,salt_and_pepper,speckle"` — a list.

`noise.parse` checks every value against its range (a negative σ, an amount above 1, an unknown kind
or parameter all stop with an error that names the parameter and the allowed range), and
`str(spec)` writes it back."""),
    code("""print(noise.describe())"""),
    code("""spec = noise.parse("gaussian:sigma=0-55")
print(spec, "->", spec.params)
print(noise.parse(str(spec)) == spec)
try:
    noise.parse("salt_and_pepper:amount=1.5")
except ValueError as error:
    print("ValueError:", error)"""),
    md(r"""Each kind returns the noisy images **and a noise level per image** on the 0-1 scale
(`return_level=True`), which noise-level-conditioned models such as FFDNet take as a second input.
What the level means depends on the kind:

| kind | model | level |
|---|---|---|
| `gaussian` | $y = x + n,\ n \sim \mathcal N(0, \sigma^2)$ — **not clipped** by default (DnCNN protocol) | σ/255 |
| `poisson` | $y = \mathrm{Poisson}(p\,x) / p$, $p$ = photons at white | $\sqrt{\bar x / p}$ |
| `salt_and_pepper` | a fraction `amount` of pixels set to 0 or 1 | amount |
| `speckle` | $y = x\,(1 + n),\ n \sim \mathcal N(0, \sigma^2)$ | σ/255 |
| `iso` | luminance noise of variance $aY + b$ plus low-frequency chroma noise | RMS noise std |
| `scribbles` | 3-6 black lines of random length, thickness, angle | covered fraction |
| `jpeg` | JPEG encode + decode at `quality` | RMS error |
| `mixed` | 1-3 of the above per image, random parameters | RMS error |

All kinds except Gaussian clip their output to `[0, 1]` because they model a camera or a corruption
that produces a valid image. Gaussian noise stays unclipped so that the noise is exactly zero-mean and
of the stated σ, the way published DnCNN/FFDNet numbers are measured; `clip=true` gives the
camera-like version."""),
    md(r"""### Gaussian (additive white) noise

The workhorse of denoising papers: independent, zero-mean, the same σ everywhere, independent of the
signal. It models thermal and read-out noise and is what DnCNN-S (one σ) and DnCNN-B (σ drawn
from 0-55 per patch: *blind*) are trained on. With `per_channel=false` one field is shared by the
three channels (gray grain on a colour image).

### Poisson (shot) noise

Light arrives in photons; a pixel that expects $\lambda$ photons counts $\mathrm{Poisson}(\lambda)$, whose
variance equals its mean. With `peak` photons at white, the noise std is $\sqrt{x / \text{peak}}$:
**signal-dependent**, stronger in bright areas in absolute terms but weaker relative to the signal.
Low `peak` means low light.

### Salt-and-pepper (impulse) noise

A fraction `amount` of pixels is replaced by white (salt) or black (pepper): dead or stuck pixels,
bit errors in transmission. The rest of the image is untouched, so the residual is mostly exactly
zero with a few huge values: a median filter beats any linear filter here.

### Speckle (multiplicative) noise

$y = x(1 + n)$: the noise scales with the signal, so dark areas stay clean and bright ones get grainy.
Typical of coherent imaging (ultrasound, radar/SAR, laser)."""),
    md(r"""### Camera ISO noise

Raising the ISO of a camera amplifies the sensor signal and its noise. Two parts (source write-up 000:
"luminance ISO noise, chroma noise"):

* **Luminance noise** — one field added to all channels, variance $a\,Y + b$ where $Y$ is the
  brightness: $aY$ is shot noise (Poisson-like, grows with the signal), $b$ is read noise. This is
  the Poissonian-Gaussian model of raw sensor data. The gain is $g = \mathrm{ISO}/100$ and by default
  $a = 4\cdot10^{-5}\,g$, $b = 2.5\cdot10^{-7}\,g^2$ (ISO 800: about 3.4/255 at mid-grey; ISO 6400:
  about 12/255); `a=` and `b=` override them.
* **Chroma noise** — per-channel colour noise, **spatially correlated** (low-frequency coloured
  blotches, what demosaicing and in-camera noise reduction leave behind): white noise blurred by a
  Gaussian of `blur` pixels, made zero-sum over R, G, B so it shifts colour but not brightness.
  Its std (`chroma=`, 0-255 scale) defaults to half the luminance std at mid-grey. Gray images get
  no chroma noise.

A range `iso=100-6400` draws the ISO per image on a log scale (each ISO stop equally likely)."""),
    md("""### Scribbles, JPEG, mixed

* **Scribbles** (source write-up 003): 3-6 straight black lines per image with random centre, angle,
  length and thickness — scratches, pen marks, scanning damage. Not noise in the statistical sense:
  the lost pixels must be *inpainted* from their neighbours.
* **JPEG** compression at a quality 1-100 (OpenCV's encoder, 4:2:0 chroma): 8×8 blocking, ringing at
  edges and colour bleeding, a deterministic and structured corruption.
* **Mixed** (source write-up 003): per image, 1-3 kinds drawn at random with random parameters
  (Gaussian σ 5-50, salt-and-pepper amount 1-10 %, speckle σ 10-60, ...; see `noise.MIXED_RANGES`),
  so no two noisy images are alike and the network cannot specialise on one corruption."""),
    md("""## Every kind on the same images

One gray and one colour crop, each kind at a moderate strength. The titles give the PSNR of the
noisy image against the clean one (`metrics.psnr`)."""),
    code(r"""SHOWCASE = {
    "gaussian": "gaussian:sigma=25",
    "poisson": "poisson:peak=30",
    "salt & pepper": "salt_and_pepper:amount=0.05",
    "speckle": "speckle:sigma=40",
    "ISO 3200": "iso:iso=3200",
    "scribbles": "scribbles",
    "JPEG q=10": "jpeg:quality=10",
    "mixed": "mixed:count=2",
}
examples = [gray_crops[0], colour_crops[0]]
rows, titles = [], []
for k, clean in enumerate(examples):
    row, row_titles = [clean], ["clean"]
    for label, spec in SHOWCASE.items():
        noisy = noise.apply(clean, spec, seed=k)
        row.append(noisy)
        row_titles.append(f"{label}\n{metrics.psnr(clean, np.clip(noisy, 0, 1)):.1f} dB")
    rows.append(row)
    titles.append(row_titles)
plots.side_by_side(rows, titles, size=1.9, path=FIGURES / "02_noise_kinds.png");"""),
    md("""### ISO noise from ISO 100 to 6400

A zoom on a colour crop: luminance grain grows with the ISO, and the chroma blotches become visible
at high ISO. The second row shows the chroma part alone, amplified ×4 around grey: the
difference to `chroma=0` with the same seed (the luminance field is drawn first, so it cancels)."""),
    code("""zoom = colour_crops[0][: CROP // 2, : CROP // 2]
isos = [100, 400, 1600, 6400]
full = [noise.apply(zoom, f"iso:iso={v}", seed=1) for v in isos]
luminance_only = [noise.apply(zoom, f"iso:iso={v},chroma=0", seed=1) for v in isos]
chroma_only = [f - lum for f, lum in zip(full, luminance_only)]
rows = [full, [np.clip(0.5 + 4 * c, 0, 1) for c in chroma_only]]
titles = [[f"ISO {v}" for v in isos], [f"chroma part x4, ISO {v}" for v in isos]]
plots.side_by_side(rows, titles, size=2.4, path=FIGURES / "02_iso_levels.png");"""),
    md("""## Residual histograms

The residual `noisy - clean` shows the *shape* of each noise. Gaussian and ISO residuals are bell
curves (ISO is a mixture of bells of different widths: signal-dependent); Poisson and speckle too,
but their width depends on the pixel value; salt-and-pepper is a spike at 0 with far tails; scribbles
only go negative (black lines); JPEG is narrow but structured. The vertical axis is logarithmic."""),
    code("""clean = colour_crops[0]
fig, axes = plt.subplots(2, 4, figsize=(13, 5.5))
for ax, (label, spec) in zip(axes.ravel(), SHOWCASE.items()):
    residual = (noise.apply(clean, spec, seed=3) - clean).ravel()
    ax.hist(residual * 255, bins=101, range=(-128, 128), color="tab:blue")
    ax.set_yscale("log")
    ax.set_title(f"{label}: std {residual.std() * 255:.1f}", fontsize=10)
    ax.set_xlabel("noisy - clean (0-255 scale)")
fig.tight_layout()
fig.savefig(FIGURES / "02_residual_histograms.png", dpi=110)"""),
    md(r"""## How noisy is "σ = 25"? PSNR of the noisy input

For unclipped Gaussian noise the MSE is σ² (on the 0-1 scale, (σ/255)²), so the noisy image's PSNR is
exactly $20\log_{10}(255/\sigma)$: 34.2 dB at σ = 5, 20.2 dB at σ = 25, 14.2 dB at σ = 50. Clipping
removes part of the noise in dark and bright areas, so the clipped input scores a little higher — a
denoiser evaluated on clipped inputs looks better than it is. These are the numbers a denoiser has to
beat (its *gain* over the input)."""),
    code("""sigmas = [5, 10, 15, 25, 35, 50, 75]
batch = np.stack(gray_crops) if len({i.shape for i in gray_crops}) == 1 else gray_crops[0][None]
measured = [metrics.psnr(batch, noise.apply(batch, f"gaussian:sigma={s}", seed=s)) for s in sigmas]
clipped = [metrics.psnr(batch, noise.apply(batch, f"gaussian:sigma={s},clip=true", seed=s)) for s in sigmas]
theory = [20 * np.log10(255 / s) for s in sigmas]
print(" sigma  theory  unclipped  clipped")
for s, t, m, c in zip(sigmas, theory, measured, clipped):
    print(f"{s:6d}  {t:6.2f}  {m:9.2f}  {c:7.2f}")

fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.plot(sigmas, theory, "k--", label="20 log10(255 / σ)")
ax.plot(sigmas, measured, "o-", label="gaussian (unclipped)")
ax.plot(sigmas, clipped, "s-", label="gaussian, clip=true")
ax.set_xlabel("σ (0-255 scale)")
ax.set_ylabel("PSNR of the noisy image (dB)")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
fig.savefig(FIGURES / "02_psnr_vs_sigma.png", dpi=110)"""),
    md("""## Measuring the noise: `estimate_sigma`

Blind denoisers and noise-level maps need σ of an image whose noise is unknown. `noise.estimate_sigma`
is the robust wavelet estimator of Donoho & Johnstone: the finest diagonal wavelet coefficients (db2)
of a natural image are mostly noise, and the median absolute value / 0.6745 estimates its std without
being thrown off by the few large coefficients at edges. It gives the same numbers as
`skimage.restoration.estimate_sigma`. Texture leaks into those coefficients, so at very low σ it
over-estimates (a clean photo reads a few units, not 0)."""),
    code("""print(" true  estimated")
for s in [0, 5, 15, 25, 50]:
    noisy = noise.apply(gray_crops[0], f"gaussian:sigma={s}", seed=s)
    print(f"{s:5d}  {noise.estimate_sigma(noisy):9.2f}")"""),
    md("""## Blind noise: a range draws per image

With a range, each image of a batch gets its own value, and the level tells which. This is how blind
models (DnCNN-B, FFDNet) see every noise strength during training."""),
    code("""batch = np.repeat(gray_crops[0][None], 6, axis=0)
noisy, level = noise.apply(batch, "gaussian:sigma=0-55", seed=0, return_level=True)
print("sigma drawn per image:", np.round(level * 255, 1))
print("measured residual std:", np.round((noisy - batch).std(axis=(1, 2, 3)) * 255, 1))"""),
    md("""## Mixed noise gallery

Mixed noise draws 1-3 kinds per image (the recipe of source write-up 003); `noise.mixed_plan` tells
which kinds a seed gives, in the order they are applied."""),
    code(r"""spec = "mixed:kinds=gaussian,speckle,salt_and_pepper,scribbles,jpeg"
sources = (colour_crops + [np.repeat(g, 3, axis=-1) for g in gray_crops])[:4]
side = min(min(i.shape[:2]) for i in sources)
batch = np.stack([sources[k % len(sources)][:side, :side] for k in range(8)])
noisy = noise.apply(batch, spec, seed=2024)
plan = noise.mixed_plan(spec, len(batch), seed=2024)
titles = [
    " + ".join(p).replace("salt_and_pepper", "s&p") + f"\n{metrics.psnr(c, n):.1f} dB"
    for p, c, n in zip(plan, batch, noisy)
]
rows, row_titles = [list(noisy[:4]), list(noisy[4:])], [titles[:4], titles[4:]]
plots.side_by_side(rows, row_titles, size=2.6, path=FIGURES / "02_mixed_gallery.png");"""),
    md("""## On the TensorFlow side

`noise.apply` is plain NumPy and runs anywhere (the JAX backend trains with it, and importing
`denoise_tf.noise` does not import TensorFlow). Two more tools exist for TensorFlow/Keras:

* `noise.tf_apply(images, spec, seed)` uses TensorFlow's **stateless** random ops: the noise is a pure
  function of the seed, so it stays reproducible inside `tf.data.Dataset.map(...,
  num_parallel_calls=AUTOTUNE)`, whatever order the threads finish in. `noise.tf_noisy_pairs`
  gives each element the seed `tf_element_seed(seed, index)`. Gaussian, Poisson, salt-and-pepper and
  speckle are native TensorFlow ops; ISO, scribbles, JPEG and mixed call the NumPy code through
  `tf.numpy_function` (deterministic too, but on the CPU).
* `noise.NoiseLayer(spec, seed)` is a Keras layer that adds noise only when `training=True`:
  put it in front of a denoiser to train on fresh noise each step, and it disappears at inference.

The two paths follow the same model, so the statistics match (not the values):"""),
    code("""import importlib.util

HAVE_TF = importlib.util.find_spec("tensorflow") is not None
if HAVE_TF:
    import tensorflow as tf

    clean = np.stack(gray_crops[:1] * 4)
    for spec in ["gaussian:sigma=25", "poisson:peak=20", "salt_and_pepper:amount=0.1", "speckle:sigma=30"]:
        r_np = noise.apply(clean, spec, seed=0) - clean
        r_tf = noise.tf_apply(clean, spec, seed=[0, 1]).numpy() - clean
        print(f"{spec:28s} NumPy std {r_np.std() * 255:5.2f}   TF std {r_tf.std() * 255:5.2f}")

    dataset = tf.data.Dataset.from_tensor_slices(np.stack([gray_crops[0][:64, :64]] * 8))
    pairs = noise.tf_noisy_pairs(dataset, "gaussian:sigma=0-55", seed=7, with_level=True)
    first = [float(level) * 255 for (noisy, level), clean_ in pairs]
    again = [float(level) * 255 for (noisy, level), clean_ in pairs]
    print("sigma per element:", np.round(first, 1), "same on a second pass:", first == again)
else:
    print("TensorFlow is not installed: the NumPy path above is all that is needed.")"""),
    code("""import keras

layer = noise.NoiseLayer("gaussian:sigma=25", seed=0)
x = np.stack(gray_crops[:1] * 2)
train_out = keras.ops.convert_to_numpy(layer(x, training=True))
infer_out = keras.ops.convert_to_numpy(layer(x, training=False))
print("backend:", keras.backend.backend())
print(f"training=True : residual std {(train_out - x).std() * 255:.2f} (0-255 scale)")
print(f"training=False: identical to the input: {np.array_equal(infer_out, x)}")
print("config:", {k: v for k, v in layer.get_config().items() if k in ("spec", "seed")})"""),
    md("""## Take-aways

* The noise model decides what a denoiser learns; Gaussian σ on the 0-255 scale is the benchmark
  convention, unclipped like the DnCNN protocol.
* Real camera noise is signal-dependent (Poisson / ISO luminance) and partly coloured and
  low-frequency (ISO chroma), which white Gaussian noise does not cover.
* Ranges give blind training data; `mixed` gives the variety that CleanVision trained on.
* The figures are in `figures/02_*.png`."""),
    exercises(
        "02",
        [
            "Apply `poisson:peak=5` and `poisson:peak=100` to the same gray crop. Which is noisier, and where in the image is the noise strongest?",
            "Write one spec that adds Gaussian noise with σ drawn per image between 10 and 30, apply it to a batch of 8 copies of one crop, and print the σ drawn for each.",
            "Measure the PSNR of `gaussian:sigma=15` with and without `clip=true` on a dark and on a bright image. Why does clipping change the score more on one of them?",
            "How far off is `noise.estimate_sigma` at σ = 2, 10 and 40 on two different Set12 images? Explain the error at σ = 2.",
        ],
    ),
    next_link("02"),
]
write("02", cells)
