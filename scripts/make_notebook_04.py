"""Writes notebooks/04_training.ipynb (outputs empty). Edit the cells here, then rerun."""

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("""# 04 · Training a denoiser

This lesson trains DnCNN (Zhang et al., 2017) the way the paper does: clean 40×40 patches cut from
Train400, the 8 flip/rotate augmentations, fresh Gaussian noise for every batch, Adam with a step
learning-rate decay. Everything an experiment needs lives in **one config object**
(`denoise_tf.train.TrainConfig`), loaded from a file in `configs/`.

`PROFILE = "tiny"` (the default, and what CI runs) shrinks the recipe so it trains in about a
minute on a laptop CPU; set `DENOISE_TF_PROFILE=full` (or change the cell below) for the real recipe,
which needs a GPU (see `scripts/train_gpu.py`)."""),
    code("""import os
import tempfile

PROFILE = os.environ.get("DENOISE_TF_PROFILE", "tiny")  # "tiny" or "full"
print("profile:", PROFILE)"""),
    md("""## The config

A config file names the model and its options, the noise (a text spec from `denoise_tf.noise`), the
data, the patching, the optimiser and the schedule. Its `tiny` section overrides a few keys."""),
    code("""from denoise_tf import datasets
from denoise_tf.train import TrainConfig

config = TrainConfig.load("../configs/dncnn_s25.yaml", tiny=(PROFILE == "tiny"))
try:
    datasets.resolve(config.train_data)
except (FileNotFoundError, ValueError):
    # Train400 is not on this machine: learn from the bundled sample images instead.
    config.train_data, config.val_data, config.val_limit = "samples", "samples", 1
if PROFILE == "tiny":
    config.output_dir = tempfile.mkdtemp(prefix="denoise_tf_runs_")  # a fresh folder each run
    config.steps_per_epoch, config.epochs = 20, 3
print({k: getattr(config, k) for k in ("model", "model_options", "noise", "train_data", "batch_size", "epochs", "steps_per_epoch")})"""),
    md("""## Train

`train(config)` cuts the patches, builds the model, and calls Keras `fit()` with callbacks that keep
the best weights by validation PSNR, back up the run so it can be resumed, and write `log.csv` and
`summary.json` into the run folder."""),
    code("""from denoise_tf.train import train

history, run_dir = train(config, verbose=2)
print("run folder:", run_dir)
print(sorted(p.name for p in run_dir.iterdir()))"""),
    md("""## Learning curves

The training loss is the mean squared error between the output and the clean patch; because DnCNN
outputs `noisy − predicted_noise`, this is the paper's loss on the noise (residual learning)."""),
    code("""from denoise_tf import plots

os.makedirs("../figures", exist_ok=True)
plots.training_curves(run_dir, path="../figures/04_training_curves.png");"""),
    md("""## Before and after

The best checkpoint denoises a validation image it never trained on. With the tiny profile the
network is shallow and barely trained, so expect a modest gain; the shipped weights (notebook 05)
show the full effect."""),
    code("""import numpy as np

from denoise_tf import metrics, noise
from denoise_tf.train import load_run_model

model = load_run_model(run_dir, "best")
images, names = datasets.load(config.val_data, color=config.color, limit=1)
clean = images[0][:128, :128]
noisy = noise.apply(clean, config.noise, seed=0)
denoised = np.clip(np.asarray(model.predict_on_batch(noisy[None]))[0], 0, 1)
plots.side_by_side(
    [[clean, noisy, denoised]],
    [["clean", f"noisy {metrics.psnr(clean, noisy):.2f} dB", f"denoised {metrics.psnr(clean, denoised):.2f} dB"]],
    path="../figures/04_before_after.png",
);"""),
    md("""## Fine-tuning on your own images

Training from scratch is the expensive part. A run can instead **start from trained weights**:
the config key `init_weights` names shipped weights (`dncnn-s25`, `dncnn-b`...), a run folder or a
`.keras` file, and `denoise_tf.warmstart.copy_weights` copies them layer by layer before the first
epoch (a gray model can even start a colour one: its first and last convolutions are spread over
the three channels). Point `train_data` at a folder of your own photos and a few hundred steps adapt
the network to them. From the command line:

```
python -m denoise_tf train configs/dncnn_s25.yaml --set init_weights=dncnn-s25 --set train_data=/path/to/photos
```

First, what the starting point buys before any training: the same network, randomly initialised
and started from `dncnn-s25`, on the image above."""),
    code("""import dataclasses

from denoise_tf import models, pretrained
from denoise_tf.warmstart import copy_weights

options = pretrained.entry("dncnn-s25")["model_options"]  # the full-depth network (17 layers)
random_start = models.build("dncnn", **options)
warm_start = models.build("dncnn", **options)
print(copy_weights(warm_start, "dncnn-s25"))
for label, net in (("random start", random_start), ("from dncnn-s25", warm_start)):
    out = np.clip(np.asarray(net.predict_on_batch(noisy[None]))[0], 0, 1)
    print(f"{label:>15}: {metrics.psnr(clean, out):.2f} dB before any training step")"""),
    md("""Then a short fine-tuning run on the lesson's training images (with the tiny profile, a few
steps only); `init_weights.json` in the run folder records where it started."""),
    code("""fine = dataclasses.replace(
    config, name=config.name + "-finetune", model_options=options, init_weights="dncnn-s25",
    epochs=1, steps_per_epoch=2 if PROFILE == "tiny" else 200,
)
history, fine_dir = train(fine, verbose=2)
print((fine_dir / "init_weights.json").read_text())"""),
    md("""## Resuming

A run stopped for any reason (a closed laptop, a session limit, `kill -9`) continues from its last
backup with `train(config, resume=True)` or `python -m denoise_tf train CONFIG --resume`; finished
epochs are not repeated. Full-size training on a GPU machine with JAX and no TensorFlow:

```
KERAS_BACKEND=jax python scripts/train_gpu.py configs/dncnn_s25.yaml --minutes 30
```"""),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
for index, cell in enumerate(nb.cells):  # stable ids: regenerating changes only what was edited
    cell.id = f"04-{index:02d}"
nbf.write(nb, "notebooks/04_training.ipynb")
