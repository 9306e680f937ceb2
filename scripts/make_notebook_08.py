"""Writes notebooks/08_your_own_photo.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "08",
        """The whole flow on a photo of your own: pick a photo, add noise of a known strength, run the
shipped denoisers and BM3D side by side, score them with PSNR and SSIM against your original, and
save the result. On Colab an upload button asks for the photo; elsewhere set `PHOTO` (or the
environment variable `DENOISE_TF_PHOTO`) to its path. Without one, the lesson uses a sample photo
that ships with the package.

`PROFILE = "tiny"` (the default) works on a 256×256 centre crop; `full` on the whole photo (BM3D then
takes a while on the CPU: about a second per 100,000 pixels).""",
        [
            "load any photo as a `float32` image in `[0, 1]` and add noise with a seed;",
            "denoise it with several methods through one call, `make_denoiser(name, sigma).denoise(image)`;",
            "compare the outputs with PSNR and SSIM and by eye;",
            "save a denoised image as an 8-bit PNG.",
        ],
    ),
    setup("""PHOTO = os.environ.get("DENOISE_TF_PHOTO")  # the path of your photo; None: upload on Colab, else a sample
SIGMA = 25  # the noise added, on the 0-255 scale
SIDE = 256 if PROFILE == "tiny" else None  # centre crop (None: the whole photo)"""),
    md("""## 1 · Your photo

On Colab, `files.upload()` shows a button: choose a JPEG or PNG from your computer (cancel to use the
sample). Anywhere else, give the path in `PHOTO` above. `read_image` reads PNG, JPEG, TIFF, WebP and
more, and refuses a file whose header claims more than 100 megapixels before decoding it."""),
    code("""from pathlib import Path

import denoise_tf
from denoise_tf import datasets

if PHOTO is None and notebook.on_colab():
    from google.colab import files

    uploaded = files.upload()  # saved beside the notebook
    PHOTO = next(iter(uploaded), None)
path = Path(PHOTO) if PHOTO else datasets.SAMPLES_DIR / "chelsea.png"
photo = denoise_tf.read_image(path)
if SIDE:
    top, left = max(0, (photo.shape[0] - SIDE) // 2), max(0, (photo.shape[1] - SIDE) // 2)
    photo = photo[top : top + SIDE, left : left + SIDE]
print(path.name, photo.shape, photo.dtype, f"[{photo.min():.2f}, {photo.max():.2f}]")"""),
    md("""## 2 · Add noise

Gaussian noise of σ = `SIGMA` with a fixed seed, clipped to `[0, 1]` as a saved photo would be.
Because we know the clean original, every score below is exact; with a photo that is noisy already
there is no clean reference, and you can only look."""),
    code("""noisy = denoise_tf.add_noise(photo, f"gaussian:sigma={SIGMA},clip=true", seed=0)
print(f"noisy: PSNR {denoise_tf.psnr(photo, noisy):.2f} dB, SSIM {denoise_tf.ssim(photo, noisy):.3f}")"""),
    md("""## 3 · Denoise side by side

Every denoiser, neural or classical, is made by name and called the same way. The methods:

* the package's default model (`default_model()`: the colour blind DnCNN when it ships);
* **DnCNN-B**, the blind gray DnCNN (on a colour photo it runs along a colour path of the package);
* **FFDNet**, told σ;
* **BM3D** (CBM3D for colour), the classical reference, told σ;
* a **Gaussian blur**, the naive baseline.

The blind models are not told σ; the others are."""),
    code("""from IPython.display import Markdown, display

from denoise_tf import plots

METHODS = list(dict.fromkeys([denoise_tf.default_model(), "dncnn-b", "ffdnet-gray", "bm3d", "gaussian"]))
outputs = {name: denoise_tf.make_denoiser(name, sigma=SIGMA).denoise(noisy) for name in METHODS}
scores = {name: (denoise_tf.psnr(photo, out), denoise_tf.ssim(photo, out)) for name, out in outputs.items()}
table = ["| method | PSNR (dB) | SSIM |", "|---|---:|---:|", f"| noisy input | {denoise_tf.psnr(photo, noisy):.2f} | {denoise_tf.ssim(photo, noisy):.3f} |"]
table += [f"| {name} | {p:.2f} | {s:.3f} |" for name, (p, s) in scores.items()]
display(Markdown("\\n".join(table)))
plots.side_by_side(
    [[photo, noisy] + list(outputs.values())],
    [["original", f"noisy σ={SIGMA}"] + [f"{name}\\n{p:.2f} dB" for name, (p, _) in scores.items()]],
    size=2.6, path=FIGURES / "08_side_by_side.png",
);"""),
    md("""Look at edges and fine texture, not only at the numbers: the blur softens everything, BM3D keeps
edges but may leave faint patch patterns, and the networks keep flat areas clean. A model trained on
gray images and run on colour can shift colours slightly; the colour-trained default model should
not."""),
    md("""## 4 · Save the result

`save_image` writes 8-bit PNG (or 16-bit with `bits=16`) and creates the folder. On Colab,
`files.download` then sends the file to your computer."""),
    code("""best = max(scores, key=lambda name: scores[name][0])
saved = denoise_tf.save_image(FIGURES / f"08_{path.stem}_{best}.png", outputs[best])
print(f"best by PSNR: {best}; saved {saved}")
if notebook.on_colab():  # send the file to your computer
    from google.colab import files

    files.download(str(saved))"""),
    exercises(
        "08",
        [
            "Run the lesson on a photo of your own at σ = 15 and σ = 50. Does the ranking of the methods change with the noise level?",
            "Replace the Gaussian noise with camera noise, `iso:iso=3200`. Which method wins now, and which σ should the methods that need one be given (try `noise.estimate_sigma`)?",
            "Denoise a photo that is noisy already (a phone picture taken in the dark) without adding noise. With no clean reference, how do you compare the methods?",
            "Time each method on the whole photo (`PROFILE = 'full'`). How many pixels per second does each manage on your machine?",
        ],
    ),
    next_link("08"),
]
write("08", cells)
