"""Image sets: named benchmark sets, any folder of images, paired noisy/clean data and splits.

Images come back as ``float32`` arrays in ``[0, 1]``, shape ``(H, W, C)`` with ``C`` 1 (gray)
or 3 (RGB). The data root is found in this order: the ``data_root`` argument, the environment
variable ``DENOISE_TF_DATA``, a ``shared/data`` folder beside or above the working directory
(the layout of this project's development machines), then a per-user cache directory.

The named sets (:data:`NAMED_SETS`) can be fetched with :func:`download`, which checks every
file against the SHA-256 registry in ``denoise_tf/registry/<name>.json``. ``"samples"`` is a
tiny set of images bundled with the package (see :func:`samples`); it needs no data root.

Image files are read with :func:`denoise_tf.images.read_image` (re-exported here with
:func:`save_image` and :func:`convert_channels`): an image whose header claims more than the pixel
limit (100 megapixels unless ``$DENOISE_TF_MAX_PIXELS`` says otherwise) is refused before decoding.
"""

from __future__ import annotations

import json
import logging
import operator
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .checksums import sha256

# Every image is read by the one reader of denoise_tf.images (format and pixel limit checked from
# the header before decoding); its names stay importable from here.
from .images import (  # noqa: F401
    DEFAULT_MAX_PIXELS,
    ENV_MAX_PIXELS,
    IMAGE_SUFFIXES,
    ImageTooLargeError,
    convert_channels,
    read_image,
    save_image,
)

ENV_VAR = "DENOISE_TF_DATA"
#: A mirror laid out like a data root (``<url>/<folder>/<file>``); :func:`download` uses it when set.
MIRROR_ENV = "DENOISE_TF_MIRROR"

TRAIN400_VAL_FILES = (
    "156065.jpg 361010.jpg 37073.jpg 376043.jpg 38082.jpg 38092.jpg 385039.jpg 41033.jpg "
    "41069.jpg 42012.jpg 42049.jpg 43074.jpg 45096.jpg 54082.jpg 55073.jpg 58060.jpg 62096.jpg "
    "65033.jpg 66053.jpg 69015.jpg 69020.jpg 69040.jpg 76053.jpg 78004.jpg 8023.jpg 85048.jpg "
    "86000.jpg 86016.jpg 86068.jpg 87046.jpg 89072.jpg 97033.jpg"
).split()

#: Named sets: folder under the data root, whether the files are colour, and the expected count.
NAMED_SETS = {
    "train400": {"folder": "train400", "color": False, "count": 400},
    "bsd68": {"folder": "bsd68", "color": False, "count": 68},
    "set12": {"folder": "set12", "color": False, "count": 12},
    "cbsd68": {"folder": "cbsd68", "color": True, "count": 68},
    "cbsd432": {"folder": "cbsd432", "color": True, "count": 432},
    # The 32 CBSD432 images that are not crop sources of Train400 (see shared/data's
    # train400_sources.tsv): a gray validation set disjoint from Train400, BSD68 and Set12.
    "train400_val": {"folder": "cbsd432", "color": False, "count": 32, "files": TRAIN400_VAL_FILES},
}

#: Name of the bundled sample set (``load("samples")``); it lives inside the package.
SAMPLES = "samples"

# SIDD file-name tokens: "NOISY" / "GT" not inside a longer word (any case).
_NOISY = re.compile(r"(?<![a-z])noisy(?![a-z])", re.IGNORECASE)
_GT = re.compile(r"(?<![a-z])gt(?![a-z])", re.IGNORECASE)

PACKAGE_DIR = Path(__file__).resolve().parent
REGISTRY_DIR = PACKAGE_DIR / "registry"
SAMPLES_DIR = PACKAGE_DIR / "samples"


# --------------------------------------------------------------------------- data root


def cache_dir() -> Path:
    """Per-user cache directory (``$XDG_CACHE_HOME/denoise_tf`` or ``~/.cache/denoise_tf``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "denoise_tf"


def data_root(data_root: str | os.PathLike | None = None) -> Path:
    """Resolve the folder that holds the named sets.

    Order: the argument, ``$DENOISE_TF_DATA``, a ``shared/data`` folder in the working
    directory or one of its parents (or beside them), then :func:`cache_dir` ``/ "data"``.
    """
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        for candidate in (folder / "shared" / "data", folder.parent / "shared" / "data"):
            if (candidate / "MANIFEST.md").is_file():
                return candidate
    return cache_dir() / "data"


_resolve_root = data_root  # for functions whose ``data_root`` argument shadows the function


# --------------------------------------------------------------------------- image files


def is_image_file(path: Path) -> bool:
    """True for a regular, non-hidden file with an image suffix (:data:`IMAGE_SUFFIXES`)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted image files of a folder.

    Files are picked by suffix (:data:`IMAGE_SUFFIXES`, any case); other files and hidden
    files (name starting with ``.``, e.g. macOS ``._x.png``) are ignored. Sub-folders are not
    searched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if is_image_file(p))


# --------------------------------------------------------------------------- named sets


def resolve(name_or_path: str | os.PathLike, data_root_: str | os.PathLike | None = None) -> Path:
    """Folder of a named set (under the data root), of the bundled samples, or a path given directly.

    Raises
    ------
    FileNotFoundError
        A named set is missing under the data root, or a path-like argument does not exist.
    NotADirectoryError
        The path is a file, not a folder.
    ValueError
        A bare name that is neither a named set nor an existing folder.
    """
    key = str(name_or_path).lower()
    if key in NAMED_SETS:
        folder = data_root(data_root_) / NAMED_SETS[key]["folder"]
        if not folder.is_dir():
            raise FileNotFoundError(
                f"set {key!r} not found at {folder}: set {ENV_VAR} or pass data_root= "
                f"to the folder that holds {NAMED_SETS[key]['folder']}/, or call download({key!r})"
            )
        return folder
    if key == SAMPLES:
        return SAMPLES_DIR
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise NotADirectoryError(f"expected a folder of images, got a file: {path}")
    text = str(name_or_path)
    if isinstance(name_or_path, os.PathLike) or any(c in text for c in "/\\~."):
        raise FileNotFoundError(f"image folder not found: {path}")
    raise ValueError(
        f"unknown set {text!r}: expected one of {sorted([*NAMED_SETS, SAMPLES])} or an existing folder"
    )


def image_files(name_or_path: str | os.PathLike, data_root: str | os.PathLike | None = None) -> list[Path]:
    """The image files of a named set, the bundled samples, or a folder, in the order :func:`load` reads them.

    A named set with a ``files`` list (``train400_val``) keeps those files of its folder.

    Raises
    ------
    FileNotFoundError
        Missing set or folder, or no image files in it.
    ValueError
        Unknown set name.
    """
    folder = resolve(name_or_path, data_root)
    files = list_images(folder)
    key = str(name_or_path).lower()
    if key in NAMED_SETS and "files" in NAMED_SETS[key]:
        wanted = set(NAMED_SETS[key]["files"])
        files = [f for f in files if f.name in wanted]
    if not files:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def load(
    name_or_path: str | os.PathLike,
    color: bool | None = None,
    limit: int | None = None,
    data_root: str | os.PathLike | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """Load a named set, the bundled samples, or a folder of images.

    Parameters
    ----------
    name_or_path : str or path-like
        One of :data:`NAMED_SETS`, ``"samples"`` (bundled, see :func:`samples`), or a folder
        of images (files picked as in :func:`list_images`).
    color : bool or None
        ``True`` RGB, ``False`` gray, ``None`` the set's own (gray for gray sets; for a folder
        or the samples, each file's own).
    limit : int or None
        Load at most this many images (the first ones in name order).
    data_root : path-like or None
        Overrides the data-root setting (see :func:`data_root`).

    Returns
    -------
    images : list of ndarray
        ``float32`` arrays in ``[0, 1]``, each ``(H, W, C)``.
    names : list of str
        File names, in the same order.

    Raises
    ------
    FileNotFoundError
        Missing set or folder, or a folder without image files.
    ValueError
        Unknown set name, bad ``limit``, or an unreadable image (the message names the file).
    """
    key = str(name_or_path).lower()
    if color is None and key in NAMED_SETS:
        color = NAMED_SETS[key]["color"]
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit}")
    files = image_files(name_or_path, data_root)[:limit]
    return [read_image(f, color) for f in files], [f.name for f in files]


def samples(color: bool | None = None) -> tuple[list[np.ndarray], list[str]]:
    """The small sample images bundled with the package (no download, no data root).

    Four images of at most 256x256 made from scikit-image's ``skimage.data`` (public domain /
    CC0; see ``denoise_tf/samples/README.md``): ``astronaut`` (RGB 256x256), ``camera``
    (gray 256x256), ``chelsea`` (RGB 144x224) and ``coffee`` (RGB 160x240).

    Parameters
    ----------
    color : bool or None
        ``True`` RGB, ``False`` gray, ``None`` each file's own.

    Returns
    -------
    images : list of ndarray
        ``float32`` in ``[0, 1]``, each ``(H, W, C)``.
    names : list of str
        File names, in the same order.
    """
    return load(SAMPLES, color=color)


# --------------------------------------------------------------------------- download


class DownloadError(RuntimeError):
    """A file of a named set could not be fetched (network error, bad server reply)."""


class ChecksumError(DownloadError):
    """A fetched file did not match its registered SHA-256 (nothing was saved)."""


def manifest(name: str) -> dict:
    """The registry entry of a named set, read from ``denoise_tf/registry/<name>.json``.

    Returns
    -------
    dict
        Keys include ``folder``, ``source`` (``repo``, ``commit``, ``path``), ``base_url``,
        ``licence``, ``citation`` and ``files`` (file name -> SHA-256 hex digest).
    """
    key = str(name).lower()
    if key not in NAMED_SETS:
        raise ValueError(f"unknown set {name!r}: expected one of {sorted(NAMED_SETS)}")
    path = REGISTRY_DIR / f"{key}.json"
    if not path.is_file():
        raise FileNotFoundError(f"registry file for set {key!r} missing: {path} (broken install?)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def verify(name: str, data_root: str | os.PathLike | None = None, registry: dict | None = None) -> list[str]:
    """Check the local files of a named set against its SHA-256 registry.

    Returns
    -------
    list of str
        One line per problem (``"missing: <path>"`` or ``"sha256 mismatch: <path>"``);
        empty when every registered file is present and intact.
    """
    entry = registry if registry is not None else manifest(name)
    folder = _resolve_root(data_root) / entry["folder"]
    problems = []
    for fname, digest in sorted(entry["files"].items()):
        path = folder / fname
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif sha256(path) != digest:
            problems.append(f"sha256 mismatch: {path}")
    return problems


#: Prefix of the folders downloads are staged in (``<set folder>/.partial-<pid>-<random>/``).
PARTIAL_PREFIX = ".partial-"
# pooch's own temporary files (tempfile's "tmp" + 8 characters) in the set folder itself
_POOCH_TEMP = re.compile(r"tmp[a-z0-9_]{8}")
#: A stray pooch temporary file in a set folder untouched this long (seconds) is removed.
STALE_SECONDS = 600


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process (or no way to tell): leave its files alone
    return True


def clean_partial_downloads(folder: str | os.PathLike, registered=()) -> list[Path]:
    """Remove what interrupted downloads into ``folder`` left behind; returns the removed paths.

    A download stages its files in ``<folder>/.partial-<pid>-<random>/`` (pooch's temporary
    file, then the checked file) and moves each one into place once its SHA-256 matched. A
    process killed mid-transfer leaves that folder behind: it is removed once process ``<pid>``
    no longer runs. Also removed: pooch temporary files (``tmp`` + 8 characters, no suffix, not
    a ``registered`` name) left directly in ``folder`` and untouched for :data:`STALE_SECONDS`.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if entry.name.startswith(PARTIAL_PREFIX) and entry.is_dir() and not entry.is_symlink():
            pid = entry.name[len(PARTIAL_PREFIX):].split("-", 1)[0]
            if pid.isdigit() and not _process_alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        elif _POOCH_TEMP.fullmatch(entry.name) and entry.name not in registered and entry.is_file() and not entry.is_symlink():
            if time.time() - entry.stat().st_mtime > STALE_SECONDS:
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def download(
    name: str,
    data_root: str | os.PathLike | None = None,
    base_url: str | None = None,
    registry: dict | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch a named set from its public source into ``<data root>/<folder>/``.

    Each file is fetched with :mod:`pooch` into a staging folder inside the target folder
    (``.partial-<pid>-<random>/``), its SHA-256 is checked against the registry, and only then
    is it renamed into place (atomic), so a failed or interrupted transfer leaves no partial
    file under a set file's name. The staging folder is removed when the call ends; one left by
    a killed process is removed by the next download into that folder
    (:func:`clean_partial_downloads`). Files already present with the right checksum are
    skipped (this is the cache). Files already present with a different checksum are never
    overwritten: the call stops with an error before fetching anything.

    Parameters
    ----------
    name : str
        One of :data:`NAMED_SETS`. ``"train400_val"`` fetches only its 32 files (into the
        ``cbsd432`` folder).
    data_root : path-like or None
        Where to put the set (default: :func:`data_root`).
    base_url : str or None
        Fetch ``<base_url>/<file>`` instead of the registry's GitHub URL (a mirror, or a
        local server in tests). Without it, ``$DENOISE_TF_MIRROR`` (a mirror laid out like a
        data root) gives ``<mirror>/<folder>/<file>``.
    registry : dict or None
        Use this manifest (same keys as :func:`manifest`) instead of the bundled one.
    timeout : float
        Seconds to wait for the server per request.

    Returns
    -------
    Path
        The set's folder.

    Raises
    ------
    FileExistsError
        A file of the set is already there with different content.
    ChecksumError
        A fetched file did not match its SHA-256 (not saved).
    DownloadError
        Network failure or bad server reply (nothing partial saved).
    """
    import pooch
    import requests

    entry = registry if registry is not None else manifest(name)
    folder = _resolve_root(data_root) / entry["folder"]
    if base_url is None and os.environ.get(MIRROR_ENV):
        base_url = os.environ[MIRROR_ENV].rstrip("/") + "/" + entry["folder"]
    url_base = (base_url or entry["base_url"]).rstrip("/") + "/"

    todo, clashes = [], []
    for fname, digest in sorted(entry["files"].items()):
        path = folder / fname
        if not path.exists():
            todo.append((fname, digest))
        elif not path.is_file() or sha256(path) != digest:
            clashes.append(str(path))
    if clashes:
        raise FileExistsError(
            f"{len(clashes)} file(s) of set {name!r} already exist with different content and "
            f"will not be overwritten (move them aside or use another data_root): "
            + ", ".join(clashes[:5])
            + (" ..." if len(clashes) > 5 else "")
        )

    clean_partial_downloads(folder, registered=entry["files"])
    if not todo:
        return folder
    downloader = pooch.HTTPDownloader(progressbar=False, timeout=timeout)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    created = not folder.exists()
    staging = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", dir=folder))
        for fname, digest in todo:
            url = url_base + fname
            try:
                fetched = pooch.retrieve(
                    url, known_hash=f"sha256:{digest}", fname=fname, path=staging, downloader=downloader
                )
                os.replace(fetched, folder / fname)
            except ValueError as exc:
                if "hash" not in str(exc).lower():
                    raise
                raise ChecksumError(
                    f"checksum mismatch for {fname} of set {name!r} from {url}: expected sha256 "
                    f"{digest}; the file was not saved"
                ) from exc
            except (requests.exceptions.RequestException, OSError) as exc:
                raise DownloadError(
                    f"could not fetch {fname} of set {name!r} from {url} (network failure or "
                    f"interrupted transfer; nothing partial was saved): {exc}. Check the connection "
                    f"(or pass base_url= to a mirror) and try again; files already fetched are kept"
                ) from exc
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # leave no empty set folder behind after a failed first file
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        logger.setLevel(level)
    return folder


def _megabytes(paths) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 1e6


def fetch(name: str, data_root: str | os.PathLike | None = None, verbose: bool = True) -> Path:
    """The folder of a named set, downloaded first when it is not under the data root.

    What lessons call: a set already there (all its files) is used as it is; otherwise
    :func:`download` fetches the missing files (sha256-checked, resumable, cached) into the data
    root, which without a setting is the per-user cache. ``verbose`` prints where the set is, how
    many files it has and its size in MB.

    Parameters
    ----------
    name : str
        One of :data:`NAMED_SETS`.
    data_root : path-like or None
        Where to look and to put the set (default: :func:`data_root`).
    verbose : bool
        Print one line about the set.

    Returns
    -------
    Path
        The set's folder.
    """
    entry = manifest(name)
    folder = _resolve_root(data_root) / entry["folder"]
    files = [folder / f for f in entry["files"]]
    missing = [p for p in files if not p.is_file()]
    if missing:
        source = os.environ.get(MIRROR_ENV) or f"github.com/{entry['source']['repo']}"
        if verbose:
            print(f"{name}: {len(missing)} of {len(files)} files not under {folder.parent}; fetching them from {source}")
        download(name, data_root=data_root)
    if verbose:
        print(f"{name}: {len(files)} files, {_megabytes(files):.1f} MB in {folder}")
    return folder


# --------------------------------------------------------------------------- paired data


def _div2k_dir_pairs(root: Path, subset: str | None) -> list[tuple[Path, Path]]:
    """(noisy folder, clean folder) pairs of a DIV2K-style root, matched by name prefix."""
    dirs = sorted(d for d in root.iterdir() if d.is_dir())
    if subset is not None:
        dirs = [d for d in dirs if f"_{subset.lower()}_" in f"_{d.name.lower()}_"]
    clean = {
        d.name.lower()[: -len("hr")]: d
        for d in dirs
        if d.name.lower().endswith("hr") and "noisy" not in d.name.lower()
    }
    noisy = {d.name.lower().replace("noisy", ""): d for d in dirs if "noisy" in d.name.lower()}
    pairs = [(noisy[k], clean[k]) for k in sorted(noisy) if k in clean]
    if not pairs:
        raise FileNotFoundError(
            f"no DIV2K-style folders in {root}"
            + (f" for subset {subset!r}" if subset else "")
            + ": expected a clean folder ending in 'HR' (e.g. DIV2K_train_HR/) beside a noisy "
            f"folder with the same prefix and 'noisy' in its name (e.g. DIV2K_train_noisy/); "
            f"found {[d.name for d in dirs]}"
        )
    return pairs


def _match(noisy_files: list[Path], clean: dict, key_of) -> tuple[list, list, list]:
    """Pair each noisy file with ``clean[key_of(file)]``.

    Returns ``(pairs, noisy (file, key) without a clean file, clean files without a noisy one)``.
    """
    pairs, lonely_noisy, used = [], [], set()
    for noisy in noisy_files:
        key = key_of(noisy)
        if key in clean:
            pairs.append((noisy, clean[key]))
            used.add(key)
        else:
            lonely_noisy.append((noisy, key))
    return pairs, lonely_noisy, [clean[k] for k in sorted(set(clean) - used)]


def _div2k_key(noisy: Path) -> str:
    return re.sub(r"[_\-.]?noisy$", "", noisy.stem, flags=re.IGNORECASE).lower()


def _match_div2k(root: Path, subset: str | None) -> tuple[list[tuple[Path, Path]], list[str]]:
    """``(pairs, unmatched files described)`` of a DIV2K-style root."""
    pairs, unmatched = [], []
    for noisy_dir, clean_dir in _div2k_dir_pairs(root, subset):
        clean = {p.stem.lower(): p for p in list_images(clean_dir)}
        found, lonely_noisy, lonely_clean = _match(list_images(noisy_dir), clean, _div2k_key)
        pairs += found
        unmatched += [f"noisy {noisy} has no clean {clean_dir / key}.*" for noisy, key in lonely_noisy]
        unmatched += [f"clean {c} has no noisy image in {noisy_dir}" for c in lonely_clean]
    return pairs, unmatched


def _sidd_scenes(root: Path) -> list[Path]:
    base = root / "Data" if (root / "Data").is_dir() else root
    scenes = sorted(
        d for d in base.iterdir() if d.is_dir() and any(_NOISY.search(p.name) for p in list_images(d))
    )
    if not scenes:
        raise FileNotFoundError(
            f"no SIDD scene folders in {base}: expected sub-folders (e.g. Data/0001_001_S6_.../) "
            f"each holding NOISY_*.PNG and GT_*.PNG images"
        )
    return scenes


def _sidd_key(noisy: Path) -> str:
    return _NOISY.sub("GT", noisy.name).upper()


def _match_sidd(root: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """``(pairs, unmatched files described)`` of a SIDD-style root."""
    pairs, unmatched = [], []
    for scene in _sidd_scenes(root):
        files = list_images(scene)
        noisy = [p for p in files if _NOISY.search(p.name)]
        clean = {p.name.upper(): p for p in files if _GT.search(p.name) and not _NOISY.search(p.name)}
        if len(noisy) == 1 and len(clean) == 1:
            pairs.append((noisy[0], next(iter(clean.values()))))
            continue
        found, lonely_noisy, lonely_clean = _match(noisy, clean, _sidd_key)
        pairs += found
        unmatched += [f"noisy {p} has no GT image {key} beside it" for p, key in lonely_noisy]
        unmatched += [f"GT {c} has no NOISY image beside it" for c in lonely_clean]
    return pairs, unmatched


def find_pairs(
    path: str | os.PathLike, layout: str = "sidd", subset: str | None = None
) -> list[tuple[Path, Path, str]]:
    """Find matching noisy/clean image files without reading them.

    Parameters
    ----------
    path : path-like
        Root of the data set (see :func:`load_pairs` for the layouts).
    layout : {"sidd", "div2k"}
        Folder layout.
    subset : str or None
        DIV2K only: keep folders whose name holds ``_<subset>_`` (``"train"`` or ``"valid"``);
        ``None`` takes all.

    Returns
    -------
    list of (Path, Path, str)
        ``(noisy file, clean file, name)`` sorted by name; ``name`` is the noisy file's path
        relative to ``path`` with ``/`` separators.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"paired data folder not found: {root}")
    layout = layout.lower()
    if layout == "sidd":
        if subset is not None:
            raise ValueError("subset= applies to layout='div2k' only")
        pairs, unmatched = _match_sidd(root)
    elif layout == "div2k":
        pairs, unmatched = _match_div2k(root, subset)
    else:
        raise ValueError(f"unknown layout {layout!r}: expected 'sidd' or 'div2k'")
    if unmatched:
        raise ValueError(f"{len(unmatched)} unmatched file(s) under {root}: " + "; ".join(unmatched[:5]))
    if not pairs:
        raise FileNotFoundError(f"no noisy/clean image pairs found under {root} (layout {layout!r})")
    named = [(n, c, n.relative_to(root).as_posix()) for n, c in pairs]
    return sorted(named, key=lambda t: t[2])


def load_pairs(
    path: str | os.PathLike,
    layout: str = "sidd",
    color: bool | None = None,
    limit: int | None = None,
    subset: str | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Load paired noisy/clean images (real-noise data such as SIDD, or a noisy copy of DIV2K).

    Layouts
    -------
    ``"sidd"``
        ``path`` (or ``path/Data``) holds one folder per scene, e.g.
        ``Data/0001_001_S6_00100_00060_3200_L/``, each with ``NOISY_SRGB_010.PNG`` and
        ``GT_SRGB_010.PNG``. A noisy file pairs with the file whose name has ``NOISY``
        replaced by ``GT`` (any case); a scene with one of each pairs them directly.
        Other files (``.MAT``, text) are ignored.
    ``"div2k"``
        ``path`` holds a clean folder ending in ``HR`` and a noisy folder with the same prefix
        and ``noisy`` in its name: ``DIV2K_HR/`` + ``DIV2K_Noisy/``, or ``DIV2K_train_HR/`` +
        ``DIV2K_train_noisy/`` and ``DIV2K_valid_HR/`` + ``DIV2K_valid_noisy/``. ``0001.png``
        pairs with ``0001_noisy.png`` (or ``0001.png``) in the noisy folder.

    Parameters
    ----------
    path : path-like
        Root folder of the data.
    layout : {"sidd", "div2k"}
        Folder layout, see above.
    color : bool or None
        ``True`` RGB, ``False`` gray, ``None`` each file's own.
    limit : int or None
        Load at most this many pairs (first in name order). Full-size SIDD images are about
        12 MP each, so a whole set can need tens of GB: use ``limit`` or :func:`find_pairs`.
    subset : str or None
        DIV2K only: ``"train"`` or ``"valid"`` (``None`` takes all).

    Returns
    -------
    noisy, clean : list of ndarray
        ``float32`` in ``[0, 1]``, each ``(H, W, C)``; ``noisy[i]`` and ``clean[i]`` have the
        same shape.
    names : list of str
        Noisy file path relative to ``path`` (``/`` separators), same order.

    Raises
    ------
    FileNotFoundError
        Missing folder or no pairs.
    ValueError
        Unknown layout, unmatched noisy/clean files, or a pair whose sizes differ.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit}")
    noisy, clean, names = [], [], []
    for a, b, name in read_pairs(find_pairs(path, layout, subset)[:limit], color):
        noisy.append(a)
        clean.append(b)
        names.append(name)
    return noisy, clean, names


def read_pairs(found: Sequence[tuple[Path, Path, str]], color: bool | None = None):
    """Read pairs found by :func:`find_pairs` one at a time: yields ``(noisy, clean, name)``.

    Raises
    ------
    ValueError
        A pair whose noisy and clean images differ in size.
    """
    for noisy_file, clean_file, name in found:
        a, b = read_image(noisy_file, color), read_image(clean_file, color)
        if a.shape != b.shape:
            raise ValueError(
                f"size mismatch in pair {name!r}: noisy {noisy_file} is {a.shape}, "
                f"clean {clean_file} is {b.shape} (H, W, C)"
            )
        yield a, b, name


#: Noise of :func:`make_paired_set`: camera ISO noise, the ISO drawn per image (log-uniform).
PAIRED_NOISE = "iso:iso=800-6400"


def make_paired_set(
    source: str | os.PathLike,
    out: str | os.PathLike,
    noise: str = PAIRED_NOISE,
    limit: int | None = None,
    seed: int = 0,
    color: bool = True,
    data_root: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> list[tuple[Path, Path]]:
    """Write a SIDD-layout folder of noisy/clean pairs made from clean images.

    One scene per source image, ``out/Data/<k>_<stem>[_ISO<iso>]/<k>_NOISY_SRGB_010.PNG`` and
    ``<k>_GT_SRGB_010.PNG``, which :func:`find_pairs` reads with ``layout="sidd"``. The ground
    truth is the clean image as an 8-bit PNG, the noisy one the same image with ``noise`` (clipped)
    rounded to 8 bits as a camera writes it. Image ``k`` gets its noise from the seed
    ``[seed, k]``, so the same arguments write the same files. A model trained on it learns the
    noise model, not a camera's real noise. ``out/make_paired_set.json`` records the arguments.

    Parameters
    ----------
    source : str or path-like
        A named set (``cbsd432``...), ``samples``, or a folder of images.
    out : path-like
        Target folder (its ``Data/`` must be absent or empty unless ``overwrite``).
    noise : str
        Noise spec of :mod:`denoise_tf.noise` (camera ISO noise by default; any kind works).
    limit : int or None
        Use the first ``limit`` images (name order).
    seed : int
        Image ``k`` gets its noise from ``[seed, k]``.
    color : bool
        RGB (SIDD's sRGB images) or gray.
    data_root : path-like or None
        Data root of the named sets.
    overwrite : bool
        Write into a non-empty ``Data/`` folder.

    Returns
    -------
    list of (Path, Path)
        ``(noisy file, clean file)`` per scene, in order.
    """
    from . import noise as noise_lib

    spec = noise_lib.parse(noise)
    out = Path(out)
    data = out / "Data"
    if data.is_dir() and any(data.iterdir()) and not overwrite:
        raise FileExistsError(f"{data} is not empty: choose another output folder or pass overwrite=True")
    images, names = load(source, color=color, limit=limit, data_root=data_root)
    written = []
    for k, (image, name) in enumerate(zip(images, names)):
        noisy, _ = noise_lib.apply(image, spec, seed=[seed, k], return_level=True)
        stem = Path(name).stem.replace("_", "-")
        tag = f"_ISO{int(round(_iso_of(spec, seed, k)))}" if spec.kind == "iso" else ""
        scene = data / f"{k + 1:04d}_{stem}{tag}"
        noisy_file = save_image(scene / f"{k + 1:04d}_NOISY_SRGB_010.PNG", noisy)
        clean_file = save_image(scene / f"{k + 1:04d}_GT_SRGB_010.PNG", image)
        written.append((noisy_file, clean_file))
    info = {
        "source": str(source),
        "noise": str(spec),
        "seed": seed,
        "count": len(written),
        "layout": "sidd",
        "note": "synthetic stand-in for SIDD made by denoise_tf.datasets.make_paired_set; image k's noise from seed [seed, k]",
    }
    (out / "make_paired_set.json").write_text(json.dumps(info, indent=2))
    return written


def _iso_of(spec, seed: int, k: int) -> float:
    """The ISO the ``iso`` kind draws for image ``k`` (its first draw from the image's generator)."""
    value = spec.params["iso"]
    if not isinstance(value, tuple):
        return float(value)
    rng = np.random.default_rng([seed, k])
    return float(np.exp(rng.uniform(np.log(value[0]), np.log(value[1]))))


# --------------------------------------------------------------------------- splits


def split(
    items: Sequence,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    *,
    counts: Sequence[int] | None = None,
    keep_order: bool = False,
) -> tuple[list, ...]:
    """Shuffle ``items`` with a seed and cut them into parts (train/val/test by default).

    Parameters
    ----------
    items : sequence
        Anything indexable (names, paths, images).
    fractions : sequence of float
        Non-negative part sizes summing to 1. Counts are ``round(cumsum(fractions) * n)``
        differences, so they always add up to ``len(items)``.
    seed : int
        Seed of the shuffle; the same seed and length give the same parts on any machine.
    counts : sequence of int or None
        Part sizes in items, summing to ``len(items)``, instead of ``fractions``.
    keep_order : bool
        Each part in the order of ``items`` (default: in shuffled order).

    Returns
    -------
    tuple of list
        One list per part, in order; together they hold every item exactly once (part ``k``
        is the ``k``-th run of the shuffled order).
    """
    n = len(items)
    if counts is not None:
        counts = [operator.index(c) for c in counts]
        if not counts or any(c < 0 for c in counts) or sum(counts) != n:
            raise ValueError(f"counts must be non-negative and sum to {n} (the number of items), got {counts}")
        bounds = [0, *np.cumsum(counts).tolist()]
    else:
        fractions = [float(f) for f in fractions]
        if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
        bounds = [0, *[int(round(c * n)) for c in np.cumsum(fractions)[:-1]], n]
    order = np.random.default_rng(seed).permutation(n)
    parts = [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    return tuple([items[i] for i in (sorted(part) if keep_order else part)] for part in parts)


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m denoise_tf.datasets download NAME [NAME ...] [--data-root DIR] [--base-url URL]``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m denoise_tf.datasets", description="Fetch named image sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="fetch named sets (sha256-checked)")
    get.add_argument("names", nargs="+", choices=sorted(NAMED_SETS))
    get.add_argument("--data-root", default=None, help="target data root (default: the data-root setting)")
    get.add_argument("--base-url", default=None, help="fetch <base-url>/<file> instead (a mirror)")
    args = parser.parse_args(argv)
    for name in args.names:
        try:
            print(f"{name}: {download(name, data_root=args.data_root, base_url=args.base_url)}")
        except (DownloadError, FileExistsError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
