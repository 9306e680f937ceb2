"""Writes notebooks/01_data_prep.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "01",
        """Before any network can learn to remove noise it needs clean images, and for real camera noise it needs
*pairs* of noisy and clean shots of the same scene. This lesson shows where the images come from, how
the package finds them and fetches them, what they look like once loaded, and how to cut your own
data into training, validation and test parts. Everything goes through one module, `denoise_tf.datasets`.

`PROFILE = "tiny"` (the default, and what CI runs) loads only a few images per set; set
`DENOISE_TF_PROFILE=full` (or `PROFILE = "full"` in the first code cell) to load every image. When a
benchmark set is not on this machine the lesson downloads the smallest one, Set12 (about 1.2 MB).""",
        [
            "tell where the package looks for data (the data root) and point it somewhere else;",
            "fetch a named set, checked file by file against its SHA-256, and verify it;",
            "load images as `float32` arrays in `[0, 1]`, gray or colour, from a named set or any folder;",
            "read noisy/clean pairs in the SIDD and DIV2K layouts, and make seeded train/val/test splits.",
        ],
    ),
    setup("""LIMIT = 4 if PROFILE == "tiny" else None  # images loaded per set (None: all)"""),
    md("""## Where the data lives: the data root

The named sets live in one folder, the **data root**, one sub-folder per set (`train400/`,
`bsd68/`, ...). Every function that reads a named set finds it in this order:

1. the `data_root=` argument, e.g. `datasets.load("bsd68", data_root="/data/denoising")`;
2. the environment variable `DENOISE_TF_DATA` (set it before starting Jupyter, e.g.
   `export DENOISE_TF_DATA=/data/denoising`, or in a cell with `os.environ["DENOISE_TF_DATA"] = ...`);
3. a `shared/data` folder beside or above the working directory (how this project's machines are set up);
4. a per-user cache, `~/.cache/denoise_tf/data` (where `download()` puts sets by default)."""),
    code("""from denoise_tf import datasets

root = datasets.data_root()
print("data root:", root)
print("with an argument:", datasets.data_root("~/my_data"))
present = {name: (root / spec["folder"]).is_dir() for name, spec in datasets.NAMED_SETS.items()}
print("present:", present)"""),
    md("""## The named sets

These are the standard gray and colour benchmark sets of the DnCNN paper (Zhang et al., 2017), all
derived from the Berkeley Segmentation Dataset. Each one has a manifest, `datasets/<name>.json`
(a copy ships inside the package), with its public source (a GitHub repository pinned to a commit),
licence note, citations, and the SHA-256 of every file.

Two relations matter when you pick training and test data:

* **Train400 ⊂ CBSD432**: every Train400 image is a gray 180×180 crop of a CBSD432 image, so never
  validate a Train400 model on CBSD432. `train400_val` is the 32 CBSD432 images that are *not*
  crop sources of Train400: a gray validation set disjoint from Train400, BSD68 and Set12.
* **BSD68 = gray CBSD68**: the same 68 test photos. BSD68 and Set12 are test sets only."""),
    code("""for name in datasets.NAMED_SETS:
    m = datasets.manifest(name)
    kind = "RGB " if m["color"] else "gray"
    print(f"{name:13s} {m['count']:4d} files  {kind}  {m['source']['repo']} : {m['source']['path']}")"""),
    md("""## Getting the sets

`datasets.download(name)` fetches a set file by file from its pinned GitHub source. Each file goes to a
temporary name first, its SHA-256 is checked against the manifest, and only then is it renamed into
place, so an interrupted or corrupted transfer never leaves a partial file. Files already there with
the right checksum are skipped (run it again to resume), and files already there with *other* content
are never overwritten: the call stops with an error instead. `base_url=` points it at a mirror.

```python
datasets.download("set12")                        # into the data root
datasets.download("bsd68", data_root="/data/dn")  # or anywhere else
# from a shell: python -m denoise_tf.datasets download set12 bsd68
```

`datasets.fetch(name)` is what the lessons call: it uses a set that is already under the data root
and downloads it only when some of its files are missing, then says how big it is. Set12 is the
smallest named set. `verify()` then checks the files that are here:"""),
    code("""datasets.fetch("set12")
present = {name: (root / spec["folder"]).is_dir() for name, spec in datasets.NAMED_SETS.items()}
for name, ok in present.items():
    if ok:
        problems = datasets.verify(name)
        print(f"{name:13s}", "all files intact" if not problems else problems[:3])
    else:
        print(f"{name:13s} not on this machine")"""),
    md("""## Loading images

`load(name_or_folder)` returns a list of images and a list of file names. Every image is a `float32`
array with values in `[0, 1]` and shape `(H, W, C)`: `C = 1` for gray, `3` for RGB. 8-bit files are
divided by 255 and 16-bit files by 65535; an alpha channel is dropped. `color=True` or `False`
converts (gray → RGB repeats the channel, RGB → gray uses 0.299 R + 0.587 G + 0.114 B); named sets
default to their own kind, so `train400_val` comes back gray. `limit=` loads only the first few.
Any folder of images works too: `datasets.load("path/to/my_photos")`."""),
    code("""from collections import Counter

SETS = [name for name, ok in present.items() if ok] or ["samples"]
if SETS == ["samples"]:
    print("named sets not found under", root, "- using the bundled samples")
loaded = {}
for name in SETS:
    images, names = datasets.load(name, limit=LIMIT)
    loaded[name] = (images, names)
    sizes = Counter(f"{i.shape[0]}x{i.shape[1]}x{i.shape[2]}" for i in images)
    low, high = min(i.min() for i in images), max(i.max() for i in images)
    print(f"{name:13s} {len(images):3d} images  {images[0].dtype}  [{low:.2f}, {high:.2f}]  HxWxC: {dict(sizes)}")"""),
    md("""The package also carries four small images (at most 256×256, from scikit-image's public-domain
samples) for demos and tests: `datasets.samples()`, or `load("samples")`. They need no data root."""),
    code("""samples, sample_names = datasets.samples()
print([f"{n}: {i.shape}" for i, n in zip(samples, sample_names)])
gray, _ = datasets.load("samples", color=False)
print("as gray:", [i.shape for i in gray])"""),
    code("""from denoise_tf import plots

if len(loaded) > 1:  # the first image of each set
    cells = [(images[0], f"{name}: {names[0]}") for name, (images, names) in loaded.items()]
else:  # only one set: its first images
    cells = [(image, f"{SETS[0]}: {n}") for image, n in zip(*loaded[SETS[0]])]
plots.side_by_side([[c[0] for c in cells]], [[c[1] for c in cells]], size=2.6, path=FIGURES / "01_data_sets.png");"""),
    md("""## Paired noisy / clean data

Synthetic noise (lesson 02) only needs clean images. Real camera noise needs pairs: a noisy shot and a
clean reference of the same scene. `load_pairs(path, layout=...)` reads two common layouts:

```
SIDD_Small_sRGB_Only/               layout="sidd"
  Data/
    0001_001_S6_00100_00060_3200_L/
      NOISY_SRGB_010.PNG            pairs with GT_SRGB_010.PNG (NOISY -> GT in the name)
      GT_SRGB_010.PNG
    0002_001_S6_00100_00020_3200_N/ ...

DIV2K/                              layout="div2k"
  DIV2K_train_HR/0001.png           clean
  DIV2K_train_noisy/0001_noisy.png  noisy (also DIV2K_HR/ + DIV2K_Noisy/, DIV2K_valid_*)
```

It returns matching lists `noisy`, `clean` and the names, and stops with an error that names the file
when a noisy image has no clean partner (or the reverse) or when the two differ in size. Full-size SIDD
images are about 12 megapixels, so use `limit=` or `find_pairs()` (file paths only) on big sets.

Here we build a tiny SIDD-style folder from the samples, with simulated camera noise at ISO 1600:"""),
    code("""import tempfile
from pathlib import Path

from denoise_tf import noise

demo = Path(tempfile.mkdtemp(prefix="sidd_demo_"))
for i, (image, name) in enumerate(zip(*datasets.samples(color=True))):
    scene = demo / "Data" / f"{i + 1:04d}_{Path(name).stem}"
    datasets.save_image(scene / "GT_SRGB_010.PNG", image)
    datasets.save_image(scene / "NOISY_SRGB_010.PNG", noise.apply(image, "iso:iso=1600", seed=i))

noisy, clean, pair_names = datasets.load_pairs(demo, layout="sidd")
print(len(noisy), "pairs:", pair_names)
plots.side_by_side(
    [[noisy[0][32:160, 64:192], clean[0][32:160, 64:192]]], [["noisy (crop)", "clean (GT)"]],
    size=3.0, path=FIGURES / "01_data_pair.png",
);"""),
    md("""## Splitting into train / validation / test

The named sets already have fixed roles (Train400 trains, `train400_val` validates, BSD68 / Set12 /
CBSD68 test), and published numbers are only comparable when you keep them. For your own folders and
paired data, `split(items, fractions=(0.8, 0.1, 0.1), seed=0)` shuffles with a seed and cuts the list:
the same seed gives the same parts on every machine, and the parts always add up to the whole list."""),
    code("""all_names = [p.name for p in datasets.list_images(datasets.resolve(SETS[0]))]
train, val, test = datasets.split(all_names, seed=0)
print(f"{SETS[0]}: {len(all_names)} images -> train {len(train)}, val {len(val)}, test {len(test)}")
assert datasets.split(all_names, seed=0) == (train, val, test)  # same seed, same split"""),
    md("""Split by **scene**, not by image, when a scene has several shots (SIDD has several noisy/clean
pairs per scene): otherwise near-identical images land on both sides and the test score flatters the
model. Split the scene names, then keep each pair with its scene:"""),
    code("""scenes = sorted({name.split("/")[1] for name in pair_names})
train_scenes, val_scenes, test_scenes = datasets.split(scenes, fractions=(0.5, 0.25, 0.25), seed=0)
train_pairs = [n for n in pair_names if n.split("/")[1] in train_scenes]
print("train scenes:", train_scenes, "val:", val_scenes, "test:", test_scenes)
print("train pairs:", train_pairs)"""),
    md("""## Summary

* Named sets live under the data root: the `data_root=` argument, then `DENOISE_TF_DATA`, then
  `shared/data`, then the user cache. `download()` fetches them, checked by SHA-256; `verify()` checks them.
* Images are `float32` in `[0, 1]`, `(H, W, C)`; `color=` converts gray ↔ RGB.
* `load_pairs()` reads SIDD- and DIV2K-style noisy/clean folders; `split()` makes seeded splits.
* Train400 is cut from CBSD432, and BSD68 is gray CBSD68: keep test images out of training."""),
    exercises(
        "01",
        [
            "Point the data root at a new empty folder with `data_root=` and fetch Set12 there. Which files appear, and what does `verify()` report after you change one byte of one file?",
            "Load `samples` as gray and as colour. Check the shapes, the value range and the dtype, and confirm that gray = 0.299 R + 0.587 G + 0.114 B on one pixel.",
            "Split Set12's file names 60/20/20 with seed 1 and with seed 2. How many names do the two test parts share?",
            "Build a SIDD-style folder of three scenes with two shots each, split it by scene, and check that no scene lands in two parts.",
        ],
    ),
    next_link("01"),
]
write("01", cells)
