"""Writes notebooks/04_training.ipynb (outputs empty). Edit the cells here, then rerun."""

from notebook_cells import code, exercises, md, next_link, opening, setup, write

cells = [
    opening(
        "04",
        """This lesson trains DnCNN (Zhang et al., 2017) the way the paper does: clean 40×40 patches cut from
Train400, the 8 flip/rotate augmentations, fresh Gaussian noise for every batch, Adam with a step
learning-rate decay. Everything an experiment needs lives in **one config object**
(`denoise_tf.config.TrainConfig`), loaded by name from the recipes that ship with the package
(the repository keeps them in `configs/`).

`PROFILE = "tiny"` (the default, and what CI runs) shrinks the recipe and trains on the four bundled
sample images, so it needs no download; `full` fetches Train400 and its validation images (about
11 MB) and runs the paper's recipe, which needs a GPU: on Colab, Runtime > Change runtime type > GPU.""",
        [
            "load a training recipe by name, shrink it with its `tiny` section and override single keys;",
            "train a model into a run folder and read its learning curves;",
            "compare a model before and after training on an image it never saw;",
            "start from shipped weights (fine-tuning) and resume a stopped run.",
        ],
    ),
    setup("""import tempfile"""),
    md("""## The config

`TrainConfig.load` takes a recipe's name (`"dncnn_s25"`, listed by `config_names()`) or the path
of your own YAML file. A config names the model and its options, the noise (a text spec from `denoise_tf.noise`), the
data, the patching, the optimiser and the schedule. Its `tiny` section overrides a few keys."""),
    code("""from denoise_tf import datasets
from denoise_tf.config import TrainConfig, config_names

print("recipes:", config_names())
config = TrainConfig.load("dncnn_s25", tiny=(PROFILE == "tiny"))
if PROFILE == "tiny":  # the bundled samples: no download
    config.train_data, config.val_data, config.val_limit = "samples", "samples", 1
else:  # Train400 and its validation images, fetched once when they are not here
    datasets.fetch(config.train_data)
    datasets.fetch(config.val_data)
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

plots.training_curves(run_dir, path=FIGURES / "04_training_curves.png");"""),
    md("""## Before and after

The best checkpoint denoises a validation image it never trained on. With the tiny profile the
network is shallow and barely trained, so expect a modest gain; the shipped weights (notebook 05)
show the full effect."""),
    code("""import numpy as np

from denoise_tf import metrics, noise
from denoise_tf.runs import load_run_model

model = load_run_model(run_dir, "best")
images, names = datasets.load(config.val_data, color=config.color, limit=1)
clean = images[0][:128, :128]
noisy = noise.apply(clean, config.noise, seed=0)
denoised = np.clip(np.asarray(model.predict_on_batch(noisy[None]))[0], 0, 1)
plots.side_by_side(
    [[clean, noisy, denoised]],
    [["clean", f"noisy {metrics.psnr(clean, noisy):.2f} dB", f"denoised {metrics.psnr(clean, denoised):.2f} dB"]],
    path=FIGURES / "04_before_after.png",
);"""),
    md("""## Fine-tuning on your own images

Training from scratch is the expensive part. A run can instead **start from trained weights**:
the config key `init_weights` names shipped weights (`dncnn-s25`, `dncnn-b`...), a run folder or a
`.keras` file, and `denoise_tf.warmstart.copy_weights` copies them layer by layer before the first
epoch (a gray model can even start a colour one: its first and last convolutions are spread over
the three channels). Point `train_data` at a folder of your own photos and a few hundred steps adapt
the network to them. From the command line:

```
python -m denoise_tf train dncnn_s25 --set init_weights=dncnn-s25 --set train_data=/path/to/photos
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
epochs are not repeated. On Colab, keep `output_dir` on a mounted Google Drive folder so a run
survives the end of the runtime and resumes in the next one."""),
    exercises(
        "04",
        [
            "Load `dncnn_s25` with and without `tiny=True` and list every key whose value differs.",
            "Train the tiny recipe twice with the same seed into two folders. Are the two `log.csv` files identical? Change `seed` and compare again.",
            "Train with `noise` set to `gaussian:sigma=0-55` (blind) for the same number of steps. Score both models at σ = 15 and σ = 50 on one image: which generalises?",
            "Stop a run after its first epoch (train with `epochs=1`), then resume it with `epochs=3`. Check in `log.csv` that epoch 0 was not repeated.",
        ],
    ),
    next_link("04"),
]
write("04", cells)
