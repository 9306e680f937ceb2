"""Image sets: named benchmark sets, any folder of images, and the data-root setting.

Images come back as ``float32`` arrays in ``[0, 1]``, shape ``(H, W, C)`` with ``C`` 1 (gray)
or 3 (RGB). The data root is found in this order: the ``data_root`` argument, the environment
variable ``DENOISE_TF_DATA``, a ``shared/data`` folder beside or above the working directory
(the layout of this project's development machines), then a per-user cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ENV_VAR = "DENOISE_TF_DATA"

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

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def cache_dir() -> Path:
    """Per-user cache directory (``$XDG_CACHE_HOME/denoise_tf`` or ``~/.cache/denoise_tf``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "denoise_tf"


def data_root(data_root: str | os.PathLike | None = None) -> Path:
    """Resolve the folder that holds the named sets.

    Order: the argument, ``$DENOISE_TF_DATA``, a ``shared/data`` folder in the working
    directory or one of its parents (or beside them), then :func:`cache_dir`.
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


def read_image(path: str | os.PathLike, color: bool | None = None) -> np.ndarray:
    """Read one image file as ``float32`` in ``[0, 1]``, shape ``(H, W, C)``.

    Parameters
    ----------
    path : path-like
        PNG, JPEG, BMP or TIFF file. 8-bit and 16-bit files are scaled by their maximum
        code value (255 or 65535); an alpha channel is dropped.
    color : bool or None
        ``True`` returns RGB (gray files are repeated to 3 channels), ``False`` returns one
        luminance channel (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), ``None`` keeps the file's own.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a readable image.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ValueError(f"not a readable image (expected PNG/JPEG/BMP/TIFF): {path}")
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        image = image.astype(np.float32) / 65535.0
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image.astype(np.float32), 0.0, 1.0)
    else:
        raise ValueError(f"unsupported pixel type {image.dtype} in {path}: expected 8- or 16-bit")
    if image.ndim == 2:
        image = image[:, :, None]
    elif image.shape[2] == 4:
        image = image[:, :, [2, 1, 0]]  # BGRA -> RGB, alpha dropped
    elif image.shape[2] == 3:
        image = image[:, :, ::-1]  # BGR -> RGB
    else:
        raise ValueError(f"unsupported channel count {image.shape[2]} in {path}: expected 1, 3 or 4")
    return convert_channels(np.ascontiguousarray(image), color)


def convert_channels(image: np.ndarray, color: bool | None) -> np.ndarray:
    """Convert an ``(H, W, C)`` image to RGB (``color=True``), gray (``False``) or keep it (``None``)."""
    channels = image.shape[-1]
    if color is None:
        return image
    if color and channels == 1:
        return np.repeat(image, 3, axis=-1)
    if not color and channels == 3:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return (image @ weights)[..., None].astype(np.float32)
    return image


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted image files of a folder (by suffix; other files are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def resolve(name_or_path: str | os.PathLike, data_root_: str | os.PathLike | None = None) -> Path:
    """Folder of a named set (under the data root) or of a path given directly."""
    key = str(name_or_path).lower()
    if key in NAMED_SETS:
        folder = data_root(data_root_) / NAMED_SETS[key]["folder"]
        if not folder.is_dir():
            raise FileNotFoundError(
                f"set {key!r} not found at {folder}: set {ENV_VAR} or pass data_root= "
                f"to the folder that holds {NAMED_SETS[key]['folder']}/, or call download({key!r})"
            )
        return folder
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    raise ValueError(
        f"unknown set {str(name_or_path)!r}: expected one of {sorted(NAMED_SETS)} or an existing folder"
    )


def load(
    name_or_path: str | os.PathLike,
    color: bool | None = None,
    limit: int | None = None,
    data_root: str | os.PathLike | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """Load a named set or a folder of images.

    Parameters
    ----------
    name_or_path : str or path-like
        One of :data:`NAMED_SETS` or a folder of images.
    color : bool or None
        ``True`` RGB, ``False`` gray, ``None`` the set's own (gray for gray sets).
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
    """
    folder = resolve(name_or_path, data_root)
    key = str(name_or_path).lower()
    if color is None and key in NAMED_SETS:
        color = NAMED_SETS[key]["color"]
    files = list_images(folder)
    if key in NAMED_SETS and "files" in NAMED_SETS[key]:
        wanted = set(NAMED_SETS[key]["files"])
        files = [f for f in files if f.name in wanted]
    if not files:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit}")
        files = files[:limit]
    return [read_image(f, color) for f in files], [f.name for f in files]
