"""Read, write and check one image file: formats, bit depth, colour and a pixel limit from the header.

Every image the package reads (the ``denoise`` command, the evaluation sets, the data pipeline and
the web page) goes through :func:`read`, which

1. finds the format from the file's first bytes (not its name) and reads the size the header
   claims, without decoding anything: PNG (IHDR), JPEG (the SOFn frame header), BMP, TIFF and
   BigTIFF (the first directory; tile sizes too), WebP (VP8, VP8L, VP8X), Radiance HDR (the
   resolution line, found the way OpenCV's reader finds it), PNM (PBM/PGM/PPM), PAM, PFM and
   Sun raster. Other formats OpenCV could decode (GIF, JPEG 2000, AVIF, OpenEXR...) are refused:
   their size is not checked here, so they are never handed to the decoder;
2. refuses an image whose claimed width x height is over the pixel limit with
   :class:`ImageTooLargeError` (a ``ValueError`` whose message gives the claimed size and the
   limit). The limit is the ``max_pixels`` argument, else the environment variable
   ``DENOISE_TF_MAX_PIXELS`` (:data:`ENV_MAX_PIXELS`), else :data:`DEFAULT_MAX_PIXELS`
   (100 megapixels, about 1.2 GB as float32 RGB);
3. only then decodes it with OpenCV (``cv2.imdecode``, ``IMREAD_UNCHANGED``) and scales it to
   ``float32`` in ``[0, 1]``: 8-bit by 255, 16-bit by 65535, floating point (HDR, float TIFF)
   clipped; an alpha channel is dropped (RGBA -> RGB, not composited).

A truncated JPEG (no end-of-image marker) is refused too: OpenCV would decode it with a gray
lower part. Images come back ``(H, W, 1)`` (gray) or ``(H, W, 3)`` (RGB); :func:`read` also
returns an :class:`ImageInfo` (format, size, bits, alpha) that callers use to write the result
back at the input's bit depth (:func:`save_image` with ``bits=16``).

Arrays are checked by :func:`check_image` before any work: floating point (``uint8``: divide by
255 first), an accepted layout and channel count, no NaN/inf and not on the 0-255 scale. The
noise kinds, the classical methods, zero-shot fitting and neural inference all call it; the
metrics use its :func:`check_range` alone.
"""

from __future__ import annotations

import functools
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Environment variable that overrides :data:`DEFAULT_MAX_PIXELS` (a number of pixels, ``1e8`` works).
ENV_MAX_PIXELS = "DENOISE_TF_MAX_PIXELS"
#: Largest image (width x height, as claimed by the file's header) read unless raised: 100 megapixels.
DEFAULT_MAX_PIXELS = 100_000_000

#: Suffixes of the image files folders are listed by and :func:`save_image` writes.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

#: Formats whose header :func:`read_header` parses (the ones :func:`read` decodes).
FORMATS = ("png", "jpeg", "bmp", "tiff", "webp", "hdr", "pnm", "pam", "pfm", "sunraster")

_EXPECTED = "PNG, JPEG, BMP, TIFF, WebP, Radiance HDR, PNM/PAM/PFM or Sun raster"
_INT_MAX = 2**31 - 1


class ImageTooLargeError(ValueError):
    """An image whose header claims more pixels than the limit (nothing was decoded).

    Attributes ``path``, ``width``, ``height`` and ``limit`` (pixels) give the details.
    """

    def __init__(self, path, width: int, height: int, limit: int):
        self.path, self.width, self.height, self.limit = Path(path), int(width), int(height), int(limit)
        super().__init__(
            f"{self.path}: the header claims {width}x{height} = {width * height / 1e6:.1f} megapixels, "
            f"over the limit of {limit / 1e6:g} megapixels (raise it with max_pixels= or the "
            f"{ENV_MAX_PIXELS} environment variable)"
        )


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header claims, read without decoding.

    ``bits`` is the bits per sample the header gives (``None`` where it does not say).
    """

    format: str
    width: int
    height: int
    bits: int | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read` found: the header and the decoded pixels.

    Attributes
    ----------
    format : str
        One of :data:`FORMATS`.
    width, height : int
        Pixels.
    channels : int
        Channels in the file (1 gray, 3 colour, 4 with alpha), before any conversion.
    bits : int
        Bits per sample of the decoded pixels: 8, 16 or 32 (floating point).
    header_bits : int or None
        Bits per sample the header claims (1, 2, 4 for low-depth PNG/BMP/TIFF), if it says.
    """

    format: str
    width: int
    height: int
    channels: int
    bits: int
    header_bits: int | None = None

    @property
    def alpha(self) -> bool:
        """True when the file has an alpha channel (it is dropped)."""
        return self.channels == 4

    @property
    def floating(self) -> bool:
        """True for floating-point pixels (HDR, float TIFF), clipped to ``[0, 1]``."""
        return self.bits == 32


# --------------------------------------------------------------------------- the pixel limit


def max_pixels(value: int | float | None = None) -> int:
    """The pixel limit: ``value``, else ``$DENOISE_TF_MAX_PIXELS``, else :data:`DEFAULT_MAX_PIXELS`.

    Raises
    ------
    ValueError
        The environment variable is not a number, or the limit is below 1.
    """
    if value is None:
        text = os.environ.get(ENV_MAX_PIXELS, "").strip()
        if not text:
            return DEFAULT_MAX_PIXELS
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{ENV_MAX_PIXELS} must be a number of pixels (e.g. 1e8), got {text!r}") from None
    if not value >= 1 or value != value or value == float("inf"):
        raise ValueError(f"max_pixels must be a number of pixels >= 1, got {value}")
    return int(value)


_pixel_limit = max_pixels  # for functions whose ``max_pixels`` argument shadows the function


def check_size(header: ImageHeader, path, limit: int | None = None) -> None:
    """Raise :class:`ImageTooLargeError` when ``header`` claims more than ``limit`` pixels."""
    limit = max_pixels(limit)
    if header.pixels > limit:
        raise ImageTooLargeError(path, header.width, header.height, limit)


# --------------------------------------------------------------------------- headers


class _Truncated(ValueError):
    """The bytes end inside the header."""


def _take(data: bytes, offset: int, n: int) -> bytes:
    if offset < 0 or offset + n > len(data):
        raise _Truncated("the file ends inside its header")
    return data[offset : offset + n]


def _dims(fmt: str, width: int, height: int, bits: int | None = None) -> ImageHeader:
    if not (1 <= width <= _INT_MAX and 1 <= height <= _INT_MAX):
        raise ValueError(f"corrupt {fmt.upper()} header: size {width}x{height} is out of range")
    return ImageHeader(fmt, int(width), int(height), bits)


def _png(data: bytes) -> ImageHeader:
    chunk = _take(data, 8, 8 + 13)
    if chunk[4:8] != b"IHDR":
        raise ValueError("corrupt PNG header: the first chunk is not IHDR")
    width, height, depth = struct.unpack(">IIB", chunk[8:17])
    return _dims("png", width, height, depth)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD8, *range(0xD0, 0xD8)}


def _jpeg(data: bytes) -> ImageHeader:
    """The first frame header (SOFn), skipping marker segments by their length as libjpeg does."""
    pos = 2
    for _ in range(100_000):
        pos = data.find(b"\xff", pos)  # libjpeg skips bytes that are not a marker
        if pos < 0:
            raise _Truncated("no frame header")
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        marker = _take(data, pos, 1)[0]
        pos += 1
        if marker in _STANDALONE or marker == 0x00:
            continue
        if marker in (0xD9, 0xDA):
            raise ValueError("corrupt JPEG: no frame header (SOF) before the image data")
        (length,) = struct.unpack(">H", _take(data, pos, 2))
        if length < 2:
            raise ValueError("corrupt JPEG: a marker segment shorter than its length field")
        if marker in _SOF:
            precision, height, width = struct.unpack(">BHH", _take(data, pos + 2, 5))
            if height == 0:
                raise ValueError("unsupported JPEG: the height is given later (DNL marker)")
            return _dims("jpeg", width, height, precision)
        pos += length
    raise ValueError("corrupt JPEG: no frame header in the first 100000 markers")


def _bmp(data: bytes) -> ImageHeader:
    (size,) = struct.unpack("<I", _take(data, 14, 4))
    if size == 12:  # OS/2 BITMAPCOREHEADER
        width, height, _, bits = struct.unpack("<HHHH", _take(data, 18, 8))
    elif size >= 36:
        width, height, _, bits = struct.unpack("<iiHH", _take(data, 18, 12))
        if height == -(2**31):
            raise ValueError("corrupt BMP header: height out of range")
        height = abs(height)
    else:
        raise ValueError(f"corrupt BMP header: info header of {size} bytes")
    return _dims("bmp", width, height, min(bits, 8))  # bits per pixel: 24/32 are 8 per sample


_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_TIFF_INTS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q", 17: "q", 18: "Q"}


def _tiff(data: bytes) -> tuple[ImageHeader, int | None]:
    """The first directory's size (the page OpenCV reads) and its tile area, if tiled."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack(order + "H", _take(data, 2, 2))[0] == 43
    if big:
        offset = struct.unpack(order + "Q", _take(data, 8, 8))[0]
        count = struct.unpack(order + "Q", _take(data, offset, 8))[0]
        entry_size, inline, first = 20, 8, offset + 8
    else:
        offset = struct.unpack(order + "I", _take(data, 4, 4))[0]
        count = struct.unpack(order + "H", _take(data, offset, 2))[0]
        entry_size, inline, first = 12, 4, offset + 2
    if count > 4096:
        raise ValueError(f"corrupt TIFF: {count} entries in the first directory")
    values: dict[int, list[int]] = {}
    for k in range(count):
        entry = _take(data, first + k * entry_size, entry_size)
        if big:
            tag, kind, n = struct.unpack(order + "HHQ", entry[:12])
            field = entry[12:20]
        else:
            tag, kind, n = struct.unpack(order + "HHI", entry[:8])
            field = entry[8:12]
        if tag not in (256, 257, 258, 322, 323) or kind not in _TIFF_INTS or n < 1:
            continue
        size = _TIFF_SIZES[kind]
        if n * size > inline:
            where = struct.unpack(order + ("Q" if big else "I"), field)[0]
            field = _take(data, where, size)
        (value,) = struct.unpack(order + _TIFF_INTS[kind], field[:size])
        values.setdefault(tag, []).append(value)
    if 256 not in values or 257 not in values:
        raise ValueError("corrupt TIFF: the first directory has no ImageWidth/ImageLength")
    # a tag given twice: the larger value counts (readers differ on which one they use)
    width, height = max(values[256]), max(values[257])
    bits = values.get(258, [None])[0]
    tile = max(values[322]) * max(values[323]) if 322 in values and 323 in values else None
    return _dims("tiff", width, height, bits), tile


def _fgets(data: bytes, pos: int, size: int = 128) -> tuple[bytes, int]:
    """C ``fgets(buf, size)``: up to ``size - 1`` bytes, stopping after a newline."""
    if pos >= len(data):
        raise _Truncated("the file ends inside its header")
    end = data.find(b"\n", pos, pos + size - 1)
    end = min(pos + size - 1, len(data)) if end < 0 else end + 1
    return data[pos:end], end


_HDR_SIZE = re.compile(rb"-Y[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*\+X[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _hdr(data: bytes) -> ImageHeader:
    """The resolution line, read in 127-byte ``fgets`` pieces the way OpenCV's RGBE reader reads it."""
    _, pos = _fgets(data, 0)
    for _ in range(10_000):
        line, pos = _fgets(data, pos)
        if line[:1] == b"\n":
            break
    else:
        raise ValueError("corrupt Radiance HDR header: no blank line after the header")
    line, _ = _fgets(data, pos)
    match = _HDR_SIZE.match(line.split(b"\0")[0])
    if match is None:
        raise ValueError("unsupported Radiance HDR header: expected a '-Y <height> +X <width>' line")
    height, width = int(match.group(1)), int(match.group(2))
    return _dims("hdr", width, height, 32)


def _webp(data: bytes) -> ImageHeader:
    kind = _take(data, 12, 4)
    if kind == b"VP8X":
        raw = _take(data, 24, 6)
        width = 1 + int.from_bytes(raw[:3], "little")
        height = 1 + int.from_bytes(raw[3:], "little")
    elif kind == b"VP8L":
        raw = _take(data, 20, 5)
        if raw[0] != 0x2F:
            raise ValueError("corrupt WebP: bad lossless signature")
        bits = int.from_bytes(raw[1:], "little")
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    elif kind == b"VP8 ":
        raw = _take(data, 20, 10)
        if raw[3:6] != b"\x9d\x01\x2a":
            raise ValueError("corrupt WebP: bad lossy frame start code")
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", raw[6:10]))
    else:
        raise ValueError(f"corrupt WebP: unknown first chunk {kind!r}")
    return _dims("webp", width, height, 8)


_SPACE = b" \t\n\v\f\r"


def _pnm_numbers(data: bytes, pos: int, count: int) -> list[int]:
    """Decimal numbers separated by white space and ``#`` comments (as OpenCV's PxM reader reads them)."""
    numbers = []
    while len(numbers) < count:
        byte = _take(data, pos, 1)
        if byte == b"#":
            ends = [i for i in (data.find(b"\n", pos), data.find(b"\r", pos)) if i >= 0]
            if not ends:
                raise _Truncated("the file ends inside its header")
            pos = min(ends) + 1
        elif byte in _SPACE:
            pos += 1
        elif byte.isdigit():
            match = re.compile(rb"[0-9]+").match(data, pos)
            numbers.append(int(match.group()))
            pos = match.end()
        else:
            raise ValueError(f"corrupt PNM header: unexpected byte {byte!r}")
    return numbers


def _pnm(data: bytes) -> ImageHeader:
    plain_bits = data[1:2] in b"14"
    numbers = _pnm_numbers(data, 2, 2 if plain_bits else 3)
    bits = 1 if plain_bits else (16 if numbers[2] > 255 else 8)
    return _dims("pnm", numbers[0], numbers[1], bits)


def _pam(data: bytes) -> ImageHeader:
    end = data.find(b"ENDHDR", 0, 1 << 16)
    if end < 0:
        raise ValueError("corrupt PAM header: no ENDHDR in the first 64 KiB")
    fields: dict[bytes, list[int]] = {}
    for line in data[3:end].splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in (b"WIDTH", b"HEIGHT", b"MAXVAL") and parts[1].isdigit():
            fields.setdefault(parts[0], []).append(int(parts[1]))
    if b"WIDTH" not in fields or b"HEIGHT" not in fields:
        raise ValueError("corrupt PAM header: no WIDTH/HEIGHT")
    bits = 16 if max(fields.get(b"MAXVAL", [255])) > 255 else 8
    return _dims("pam", max(fields[b"WIDTH"]), max(fields[b"HEIGHT"]), bits)


def _pfm(data: bytes) -> ImageHeader:
    tokens = data[3:4096].split(maxsplit=2)
    if len(tokens) < 3:
        raise _Truncated("the file ends inside its header")
    if not all(re.fullmatch(rb"\+?[0-9]+", t) for t in tokens[:2]):
        raise ValueError("corrupt PFM header: expected '<width> <height>'")
    return _dims("pfm", int(tokens[0]), int(tokens[1]), 32)


def _sunraster(data: bytes) -> ImageHeader:
    width, height, depth = struct.unpack(">III", _take(data, 4, 12))
    return _dims("sunraster", width, height, min(depth, 8))


_REFUSED = (  # formats OpenCV may decode whose size is not checked here
    (b"GIF8", "GIF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
)


def _parse(data: bytes) -> tuple[ImageHeader, int | None]:
    """``(header, tile area or None)`` from a file's bytes (or a long enough prefix of them)."""
    head = data[:16]
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _png(data), None
    if head[:3] == b"\xff\xd8\xff":
        return _jpeg(data), None
    if head[:2] == b"BM":
        return _bmp(data), None
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff(data)
    if head[:6] == b"#?RGBE" or head[:10] == b"#?RADIANCE":
        return _hdr(data), None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(data), None
    if head[:1] == b"P" and len(head) > 2 and head[2:3] in _SPACE:
        if head[1:2] in b"123456":
            return _pnm(data), None
        if head[1:2] == b"7":
            return _pam(data), None
        if head[1:2] in b"Ff":
            return _pfm(data), None
    if head[:4] == b"\x59\xa6\x6a\x95":
        return _sunraster(data), None
    for signature, name in _REFUSED:
        if data.startswith(signature):
            raise ValueError(f"unsupported image format {name} (expected {_EXPECTED})")
    if head[4:8] == b"ftyp":
        raise ValueError(f"unsupported image format AVIF/HEIF (expected {_EXPECTED})")
    raise ValueError(f"not a readable image (unknown format; expected {_EXPECTED})")


def _header_of(data: bytes, path) -> tuple[ImageHeader, int | None]:
    if not data:
        raise ValueError(f"not a readable image (the file is empty): {path}")
    try:
        return _parse(data)
    except _Truncated:
        raise ValueError(f"not a readable image (truncated header): {path}") from None
    except (ValueError, struct.error) as error:
        raise ValueError(f"{error}: {path}") from None


def read_header(path: str | os.PathLike) -> ImageHeader:
    """The format and size an image file's header claims (nothing is decoded).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not one of :data:`FORMATS` (unknown, or a format whose header is not parsed), or a
        corrupt or truncated header. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    with open(path, "rb") as handle:
        data = handle.read(1 << 20)
        try:
            return _parse(data)[0]
        except _Truncated:
            pass
        except (ValueError, struct.error):
            return _header_of(data, path)[0]  # raises with the path in the message
        data += handle.read()  # the header runs past the first MiB (large JPEG/TIFF metadata)
    return _header_of(data, path)[0]


# --------------------------------------------------------------------------- reading


def _check_jpeg_complete(data: np.ndarray | bytes, path) -> None:
    """Raise if a JPEG byte stream stops before its end-of-image marker (a truncated file).

    OpenCV decodes a truncated JPEG without error (the missing part comes back gray), so the
    check is done here: the last start-of-scan marker (FF DA) must be followed by an
    end-of-image marker (FF D9). Inside scan data every FF byte is stuffed, so FF D9 cannot
    appear there by chance.
    """
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if raw[:2] != b"\xff\xd8":
        return
    sos = raw.rfind(b"\xff\xda")
    if sos < 0 or raw.find(b"\xff\xd9", sos) < 0:
        raise ValueError(f"truncated or corrupt JPEG (no end-of-image marker): {path}")


def _decode(data: bytes, path) -> np.ndarray:
    import cv2

    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise ValueError(f"not a readable image (the decoder failed: {reason}): {path}") from None
    if image is None:
        raise ValueError(f"not a readable image (corrupt data; expected {_EXPECTED}): {path}")
    return image


def read(
    path: str | os.PathLike, color: bool | None = None, max_pixels: int | None = None
) -> tuple[np.ndarray, ImageInfo]:
    """Read one image file, checking its claimed size first: ``(image, info)``.

    Parameters
    ----------
    path : path-like
        An image in one of :data:`FORMATS` (found from the bytes, not the suffix).
    color : bool or None
        ``True`` returns RGB (gray repeated to 3 channels), ``False`` one luminance channel
        (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), ``None`` the file's own channels.
    max_pixels : int or None
        Largest width x height accepted (default: :func:`max_pixels`, 100 megapixels unless
        ``$DENOISE_TF_MAX_PIXELS`` says otherwise).

    Returns
    -------
    image : ndarray
        ``float32``, ``(H, W, 1)`` or ``(H, W, 3)``, values in ``[0, 1]``.
    info : ImageInfo
        Format, size, the file's channels (4: the alpha was dropped) and bits per sample.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ImageTooLargeError
        The header claims more than ``max_pixels`` pixels (a ``ValueError``; nothing decoded).
    ValueError
        Not a readable image: unknown or unsupported format, corrupt or truncated data, or an
        unsupported pixel type. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    limit = _pixel_limit(max_pixels)
    data = path.read_bytes()
    header, tile = _header_of(data, path)
    check_size(header, path, limit)
    if tile is not None and tile > limit:
        raise ValueError(
            f"{path}: TIFF tiles of {tile / 1e6:.1f} megapixels are over the limit of {limit / 1e6:g} megapixels"
        )
    _check_jpeg_complete(data, path)
    image = _decode(data, path)
    if image.shape[0] * image.shape[1] > limit:  # the decoder disagrees with the header: still refuse
        raise ImageTooLargeError(path, image.shape[1], image.shape[0], limit)
    if image.dtype == np.uint8:
        bits, image = 8, image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        bits, image = 16, image.astype(np.float32) / 65535.0
    elif image.dtype in (np.float32, np.float64):
        bits, image = 32, np.clip(np.nan_to_num(image.astype(np.float32), nan=0.0), 0.0, 1.0)
    else:
        raise ValueError(f"unsupported pixel type {image.dtype} in {path}: expected 8- or 16-bit or float")
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels == 4:
        image = image[:, :, [2, 1, 0]]  # BGRA -> RGB, alpha dropped
    elif channels == 3:
        image = image[:, :, ::-1]  # BGR -> RGB
    elif channels != 1:
        raise ValueError(f"unsupported channel count {channels} in {path}: expected 1, 3 or 4")
    info = ImageInfo(header.format, image.shape[1], image.shape[0], channels, bits, header.bits)
    return convert_channels(np.ascontiguousarray(image), color), info


def read_image(path: str | os.PathLike, color: bool | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Read one image file as ``float32`` in ``[0, 1]``, shape ``(H, W, C)`` (see :func:`read`).

    Parameters
    ----------
    path : path-like
        PNG, JPEG, BMP, TIFF, WebP, Radiance HDR, PNM/PAM/PFM or Sun raster file. 8-bit and
        16-bit files are scaled by their maximum code value (255 or 65535); floating-point files
        are clipped to ``[0, 1]``. An alpha channel is dropped, not composited (RGBA -> RGB; a
        gray+alpha PNG decodes as RGB).
    color : bool or None
        ``True`` returns RGB (gray files are repeated to 3 channels), ``False`` returns one
        luminance channel (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), ``None`` keeps the file's own.
    max_pixels : int or None
        Pixel limit checked from the header before decoding (default :func:`max_pixels`).

    Returns
    -------
    ndarray
        ``float32``, ``(H, W, 1)`` or ``(H, W, 3)``, values in ``[0, 1]``.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a readable image (corrupt, truncated, or not an image at all), is over
        the pixel limit (:class:`ImageTooLargeError`), or has an unsupported pixel type or
        channel count.
    """
    return read(path, color=color, max_pixels=max_pixels)[0]


def convert_channels(image: np.ndarray, color: bool | None) -> np.ndarray:
    """Convert an ``(H, W, C)`` image to RGB (``color=True``), gray (``False``) or keep it (``None``).

    Gray -> RGB repeats the channel; RGB -> gray uses ITU-R 601 weights
    (0.299 R + 0.587 G + 0.114 B). The dtype is kept.
    """
    channels = image.shape[-1]
    if color is None:
        return image
    if color and channels == 1:
        return np.repeat(image, 3, axis=-1)
    if not color and channels == 3:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return (image @ weights)[..., None].astype(np.float32)
    return image


# --------------------------------------------------------------------------- checking

#: :func:`check_range` takes values above ``RANGE_LIMIT * data_range`` for a wrong scale (a 0-255
#: image where [0, 1] is expected). Loose on purpose: unclipped noisy images (Gaussian, Poisson,
#: speckle) overshoot [0, 1] by a few units at most.
RANGE_LIMIT = 10.0

#: How the messages of :func:`check_shape` name an array of each rank.
_LAYOUTS = {2: "(H, W)", 3: "(H, W, C)", 4: "(N, H, W, C)"}
_CHANNEL_NAMES = {1: "gray", 3: "colour"}


def check_dtype(dtype, name: str = "image") -> None:
    """Raise ``TypeError`` unless ``dtype`` is floating point (8/16-bit: say how to scale).

    The package works on float32 images in [0, 1]; integer images are the usual mistake.
    """
    dtype = np.dtype(dtype)
    if dtype == np.uint8 or dtype == np.uint16:
        scale = np.iinfo(dtype).max
        raise TypeError(f"{name} must be float32 in [0, 1], got {dtype}: divide by {scale} first (or use datasets.read_image)")
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{name} must be float32 in [0, 1], got dtype {dtype}")


def check_shape(shape, name: str = "image", ranks=(3, 4), channels=(1, 3)) -> None:
    """Raise ``ValueError`` unless ``shape`` has one of ``ranks`` and, from rank 3, one of ``channels`` last.

    ``shape`` is a tuple (``None`` for an unknown size, as in a symbolic tensor: not checked);
    ``channels=None`` takes any channel count.
    """
    shape = tuple(shape)
    if len(shape) not in ranks:
        layouts = [_LAYOUTS.get(rank, f"rank {rank}") for rank in sorted(ranks)]
        allowed = layouts[0] if len(layouts) == 1 else ", ".join(layouts[:-1]) + " or " + layouts[-1]
        raise ValueError(f"{name} must be {allowed}, got shape {shape}")
    if channels is not None and len(shape) >= 3 and shape[-1] is not None and shape[-1] not in channels:
        counts = " or ".join(str(c) for c in channels)
        named = " or ".join(f"{c} ({_CHANNEL_NAMES[c]})" if c in _CHANNEL_NAMES else str(c) for c in channels)
        raise ValueError(f"{name} must have {counts} channels on the last axis (C {named}), got shape {shape}")


def check_finite(image, name: str = "image") -> None:
    """Raise ``ValueError`` when ``image`` holds NaN or +-inf, counting the pixels that do.

    A pixel is one spatial position (all its channels); ``image`` is ``(H, W, C)`` or ``(N, H, W, C)``
    (``(H, W)``: one value per pixel).
    """
    finite = np.isfinite(image)
    if finite.all():
        return
    bad = ~finite.all(axis=-1) if image.ndim >= 3 else ~finite
    count, total = int(bad.sum()), int(bad.size)
    kinds = [label for label, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)) if test(image).any()]
    raise ValueError(
        f"{name} has {count} non-finite pixel{'s' if count != 1 else ''} of {total} ({', '.join(kinds)}): "
        "expected finite float32 values in [0, 1]"
    )


def check_range(image, name: str = "image", data_range: float = 1.0) -> None:
    """Raise ``ValueError`` when ``image`` looks like it is on the wrong scale (e.g. 0-255 floats).

    Images are expected in ``[0, data_range]`` (noisy ones may overshoot a little); a maximum
    above ``RANGE_LIMIT * data_range`` (10 for ``data_range=1``) is taken as a 0-255 (or 16-bit)
    image, a common mistake that otherwise gives silently wrong PSNR or a saturated output.
    Integer arrays are checked too; NaN is ignored (see :func:`check_finite`).
    """
    array = np.asarray(image)
    if array.size == 0 or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        return
    top = float(np.nanmax(array)) if np.issubdtype(array.dtype, np.floating) else float(array.max())
    if top > RANGE_LIMIT * data_range:
        hint = "divide a 0-255 image by 255" if top <= 255 * RANGE_LIMIT * data_range else "rescale it"
        raise ValueError(
            f"{name} has values up to {top:g}, but images are expected in [0, {data_range:g}] "
            f"(float, data_range={data_range:g}): {hint} first"
        )


def check_image(
    image,
    name: str = "image",
    *,
    ranks=(3, 4),
    channels=(1, 3),
    min_side: int = 0,
    finite: bool = True,
    data_range: float | None = 1.0,
) -> np.ndarray:
    """The one check of an image array before the package works on it.

    In order: floating point (:func:`check_dtype`), layout (:func:`check_shape`), at least
    ``min_side`` pixels a side, no NaN/inf (:func:`check_finite`), and the scale
    (:func:`check_range`).

    Parameters
    ----------
    image : array-like
        An image ``(H, W, C)`` or a batch ``(N, H, W, C)`` (``(H, W)`` where ``ranks`` has 2),
        float in ``[0, 1]`` (noisy values may leave it a little).
    name : str
        What the messages call the array (``"images"``, ``"zero-shot: image"``).
    ranks : tuple of int
        Accepted ranks, from 2 ``(H, W)``, 3 ``(H, W, C)`` and 4 ``(N, H, W, C)``.
    channels : tuple of int or None
        Accepted channel counts (last axis, rank 3 and 4); None takes any.
    min_side : int
        Smallest height and width (0: empty images pass).
    finite : bool
        Refuse NaN and inf.
    data_range : float or None
        Refuse a maximum above ``RANGE_LIMIT * data_range`` (a 0-255 image); None skips it.

    Returns
    -------
    ndarray
        ``image`` as float32 (not copied when it already is), same shape.

    Raises
    ------
    TypeError
        Not floating point (``uint8``: divide by 255 first).
    ValueError
        Another rank or channel count, a side under ``min_side``, NaN/inf, or 0-255 values.
    """
    array = np.asarray(image)
    check_dtype(array.dtype, name)
    check_shape(array.shape, name, ranks, channels)
    if min_side and array.ndim >= 2:
        height, width = array.shape[:2] if array.ndim == 2 else array.shape[-3:-1]
        if min(height, width) == 0:
            raise ValueError(f"{name} is empty: shape {array.shape}")
        if min(height, width) < min_side:
            raise ValueError(f"{name} is {height}x{width} pixels: it needs at least {min_side}x{min_side}")
    if finite:
        check_finite(array, name)
    if data_range is not None:
        check_range(array, name, data_range)
    return array.astype(np.float32, copy=False)


# --------------------------------------------------------------------------- writing


def save_image(path: str | os.PathLike, image: np.ndarray, bits: int = 8) -> Path:
    """Write a ``float`` image in ``[0, 1]`` as an 8- or 16-bit file (format from the suffix).

    Parameters
    ----------
    path : path-like
        Target file (``.png``, ``.jpg``, ``.bmp``, ``.tif``); parent folders are created.
    image : ndarray
        ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` RGB, float, values clipped to ``[0, 1]``.
    bits : {8, 16}
        Code values per channel; 16 needs PNG or TIFF.

    Returns
    -------
    Path
        ``path``. The file is written under a temporary name in the same folder and renamed
        into place, so an interrupted write never leaves a partial image under ``path``.
    """
    import cv2

    path = Path(path)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an (H, W, 1) or (H, W, 3) image for {path}, got shape {image.shape}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"unsupported image suffix {path.suffix!r} for {path}: expected {IMAGE_SUFFIXES}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if bits == 16 and path.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise ValueError(f"16-bit images need a .png or .tif file, got {path.suffix!r} for {path}")
    scale, dtype = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
    codes = np.round(np.clip(image.astype(np.float32), 0.0, 1.0) * scale).astype(dtype)
    if codes.ndim == 3:
        codes = codes[:, :, ::-1]  # RGB -> BGR for OpenCV
    ok, data = cv2.imencode(path.suffix, codes)
    if not ok:
        raise ValueError(f"could not encode a {bits}-bit image as {path.suffix}: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside the target, then renamed over it: an interrupted write leaves no half file,
    # and a target that is a hard link gets a new file instead of changing the other name's data
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.tobytes())
        os.chmod(partial, 0o666 & ~_umask())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (new files get ``0o666 & ~umask``, as ``open`` would give them)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no reading without setting elsewhere: set and restore, once
    os.umask(mask)
    return mask


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ENV_MAX_PIXELS",
    "FORMATS",
    "IMAGE_SUFFIXES",
    "ImageHeader",
    "ImageInfo",
    "ImageTooLargeError",
    "RANGE_LIMIT",
    "check_dtype",
    "check_finite",
    "check_image",
    "check_range",
    "check_shape",
    "check_size",
    "convert_channels",
    "max_pixels",
    "read",
    "read_header",
    "read_image",
    "save_image",
]
