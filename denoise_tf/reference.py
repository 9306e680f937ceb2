"""The DnCNN and FFDNet papers' own trained networks, fetched on first use (reference networks).

Names start with ``paper/`` (``paper/dncnn-s25``, ``paper/dncnn-b``, ``paper/cdncnn-b``,
``paper/ffdnet-gray``...), so they are never mistaken for the weights this package trains and
ships (:mod:`denoise_tf.pretrained`). ``denoise_tf/registry/reference_networks.json`` gives each
one its public repository, pinned commit and path, sha256, size, licence note (research use, on
the authors' terms), citation and published figures.

On first use :func:`load` fetches the authors' MatConvNet file into the user cache
(:func:`cache_folder`), with the staged, sha256-checked, atomic download of
:func:`denoise_tf.datasets.download`, converts it once to a Keras ``.weights.h5`` beside it
(DnCNN: :func:`denoise_tf.models.dncnn.load_matconvnet`, FFDNet:
:func:`denoise_tf.models.ffdnet.load_matconvnet`) and builds the model from the registry. Later
calls load the converted weights (their sha256 is kept beside them). ``$DENOISE_TF_REFERENCE_URL``
(or ``base_url=``) fetches ``<url>/<file>`` from a mirror instead. A machine without network gets
a :class:`ReferenceUnavailable` naming the file to download and where to put it; a file whose
sha256 differs is refused and nothing is kept.

The networks are the papers' results, not this package's: they may not start the training of
anything this package ships (:mod:`denoise_tf.warmstart` refuses them).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

REGISTRY_FILE = Path(__file__).resolve().parent / "registry" / "reference_networks.json"
#: Every reference network's name starts with this.
PREFIX = "paper/"
#: Environment variable: a mirror serving the files as ``<url>/<file>`` (tests use a loopback server).
ENV_URL = "DENOISE_TF_REFERENCE_URL"


class ReferenceUnavailable(FileNotFoundError):
    """A reference network's file is not in the cache and could not be downloaded."""


class ReferenceChecksumError(ValueError):
    """A downloaded reference file did not match its sha256 (it was not kept)."""


def registry() -> dict:
    """All reference networks: ``{name: entry}`` (see the module docstring for the fields)."""
    return json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))["networks"]


def available() -> list[str]:
    """Names of the reference networks (``paper/...``), sorted."""
    return sorted(registry())


def entry(name: str) -> dict:
    """The registry entry of ``name``; ValueError listing the reference names if unknown."""
    entries = registry()
    if name not in entries:
        raise ValueError(f"no reference network named {name!r}: expected one of {sorted(entries)}")
    return entries[name]


def channels(name: str) -> int:
    """Image channels of reference network ``name``: 1 gray, 3 colour."""
    return int(entry(name)["model_options"]["channels"])


def url(name: str, base_url: str | None = None) -> str:
    """Where ``name``'s file is fetched from: ``base_url`` / ``$DENOISE_TF_REFERENCE_URL`` + file, else the pinned GitHub raw URL."""
    info = entry(name)
    base = base_url or os.environ.get(ENV_URL)
    if base:
        return base.rstrip("/") + "/" + info["file"]
    return pinned_url(name)


def pinned_url(name: str) -> str:
    """The GitHub raw URL of ``name``'s file at the registry's pinned commit."""
    source = entry(name)["source"]
    return f"https://raw.githubusercontent.com/{source['repo']}/{source['commit']}/{source['path']}"


def cache_folder() -> Path:
    """The reference networks' cache: :func:`denoise_tf.datasets.cache_dir` ``/ "reference"``."""
    from .datasets import cache_dir

    return cache_dir() / "reference"


def _folder(name: str) -> Path:
    return cache_folder() / name[len(PREFIX):]


def source_path(name: str) -> Path:
    """Where the published file of ``name`` lives in the cache (also where to put it by hand)."""
    return _folder(name) / entry(name)["file"]


def weights_path(name: str) -> Path:
    """The converted ``.weights.h5`` of ``name`` in the cache (named by the source's sha256)."""
    info = entry(name)
    return _folder(name) / f"{name[len(PREFIX):]}-{info['sha256'][:16]}.weights.h5"


def size_mb(name: str) -> float:
    """Size of ``name``'s download in MB (10^6 bytes)."""
    return entry(name)["size"] / 1e6


def _digest_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _intact(path: Path, digest: str | None = None) -> bool:
    """True when ``path`` exists and its sha256 is ``digest`` (default: the one written beside it)."""
    from .checksums import sha256

    if not path.is_file():
        return False
    if digest is None:
        try:
            digest = _digest_file(path).read_text(encoding="ascii").split()[0]
        except (OSError, IndexError, UnicodeDecodeError):
            return False
    return sha256(path) == digest


def is_cached(name: str) -> bool:
    """True when ``name`` is ready without a download (converted weights or the checked source file)."""
    return _intact(weights_path(name)) or _intact(source_path(name), entry(name)["sha256"])


def fetch(name: str, base_url: str | None = None, timeout: float = 60.0) -> Path:
    """The published file of ``name`` in the cache, downloaded and sha256-checked if not there yet.

    A cached file whose sha256 differs is removed and fetched again.

    Raises
    ------
    ReferenceUnavailable
        No network (or no server): the message names the file, its URL, its sha256 and the path
        to put it at by hand.
    ReferenceChecksumError
        The downloaded file's sha256 differs from the registry (nothing is kept).
    """
    from .datasets import ChecksumError, DownloadError, download

    info = entry(name)
    path = source_path(name)
    if _intact(path, info["sha256"]):
        return path
    if path.exists():
        warnings.warn(f"cached {path} does not match its sha256: removed, fetching it again", stacklevel=2)
        path.unlink()
    source = url(name, base_url)
    manifest = {"folder": path.parent.name, "base_url": source.rsplit("/", 1)[0] + "/", "files": {info["file"]: info["sha256"]}}
    try:
        download(name, data_root=path.parent.parent, registry=manifest, timeout=timeout)
    except ChecksumError:
        raise ReferenceChecksumError(
            f"refused {source}: its sha256 is not {info['sha256']} (the {info['network']} of {info['source']['repo']} "
            "at the pinned commit); nothing was kept in the cache"
        ) from None
    except DownloadError as error:
        raise ReferenceUnavailable(
            f"could not download {name} ({info['file']}, {size_mb(name):.1f} MB) from {source}: {error.__cause__ or error}. "
            f"Without network: download {pinned_url(name)} ({info['source']['repo']} @ {info['source']['commit']}, "
            f"{info['source']['path']}; sha256 {info['sha256']}) on another machine and put it at {path}"
        ) from None
    finally:
        for folder in (path.parent, path.parent.parent):  # a failed first download leaves no empty folder
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return path


def convert(name: str, source: str | os.PathLike) -> Path:
    """Convert the published file ``source`` of ``name`` to :func:`weights_path` (atomic); returns that path."""
    from .checksums import sha256
    from .models import dncnn, ffdnet

    info = entry(name)
    readers = {"matconvnet-dncnn": dncnn.load_matconvnet, "matconvnet-ffdnet": ffdnet.load_matconvnet}
    model = readers[info["format"]](source)
    target = weights_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{os.getpid()}-{target.name}")
    partial_digest = _digest_file(partial)
    try:
        model.save_weights(str(partial))
        partial_digest.write_text(f"{sha256(partial)}  {target.name}\n", encoding="ascii")
        os.replace(partial_digest, _digest_file(target))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        partial_digest.unlink(missing_ok=True)
    return target


def load(name: str, base_url: str | None = None):
    """Build reference network ``name`` with the papers' weights, fetching and converting them on first use.

    Returns
    -------
    keras.Model
        Not compiled; float32 NHWC in [0, 1] (FFDNet: ``[noisy, level]`` with level = sigma / 255).

    Raises
    ------
    ValueError
        Unknown name, or the downloaded file's sha256 differs (:class:`ReferenceChecksumError`).
    ReferenceUnavailable
        Not cached and not downloadable (see :func:`fetch`).
    """
    from . import models

    info = entry(name)
    path = weights_path(name)
    if not _intact(path):
        path = convert(name, fetch(name, base_url=base_url))
    model = models.build(info["model"], **info["model_options"])
    model.load_weights(str(path))
    return model


def published(name: str, dataset: str, sigma: float) -> float | None:
    """The paper's PSNR of ``name`` on ``dataset`` at ``sigma``, None where the paper gives none."""
    for row in entry(name).get("published", []):
        if row["dataset"] == dataset and float(row["sigma"]) == float(sigma):
            return float(row["psnr"])
    return None
