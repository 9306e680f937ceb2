"""denoise_tf.images: the one image reader (header size check before decoding) and writer.

The "bombs" here are headers only: they claim a huge size and hold no image data, so a reader
that decoded them anyway would fail fast instead of allocating gigabytes; ``no_decoding`` also
makes any call of the decoder fail the test.
"""

from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from denoise_tf import datasets, images


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def bmp_claiming(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, 0, 0, 2835, 2835, 0, 0)  # top-down
    return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + info + b"\x00" * 16


def tiff_claiming(width: int, height: int, order: str = "<", big: bool = False, tile: int | None = None) -> bytes:
    mark = b"II" if order == "<" else b"MM"
    tags = [(256, width), (257, height)] + ([(322, tile), (323, tile)] if tile else [])
    if big:
        head = mark + struct.pack(order + "HHHQ", 43, 8, 0, 16)
        entries = [struct.pack(order + "HHQQ", tag, 16, 1, value) for tag, value in tags]
        return head + struct.pack(order + "Q", len(entries)) + b"".join(entries) + struct.pack(order + "Q", 0)
    head = mark + struct.pack(order + "HI", 42, 8)
    entries = [struct.pack(order + "HHII", tag, 4, 1, value) for tag, value in tags]
    return head + struct.pack(order + "H", len(entries)) + b"".join(entries) + struct.pack(order + "I", 0)


def hdr_claiming(width: int, height: int) -> bytes:
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {height} +X {width}\n".encode() + b"\x02\x02\x00\x08" * 4


def webp_claiming(width: int, height: int, kind: str = "VP8X") -> bytes:
    if kind == "VP8X":
        body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    elif kind == "VP8L":
        body = b"\x2f" + ((width - 1) | ((height - 1) << 14)).to_bytes(4, "little")
    else:
        body = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", width, height)
    chunk = kind.encode().ljust(4) + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def sunraster_claiming(width: int, height: int) -> bytes:
    return b"\x59\xa6\x6a\x95" + struct.pack(">IIIIIII", width, height, 24, 0, 1, 0, 0)


BOMBS = {  # name: (file bytes claiming 20000 x 30000 = 600 megapixels)
    "png": png_claiming(20000, 30000),
    "jpeg": jpeg_claiming(20000, 30000),
    "bmp": bmp_claiming(20000, 30000),
    "tiff": tiff_claiming(20000, 30000),
    "tiff-big-endian": tiff_claiming(20000, 30000, order=">"),
    "bigtiff": tiff_claiming(20000, 30000, big=True),
    "hdr": hdr_claiming(20000, 30000),
    "webp-vp8x": webp_claiming(20000, 30000),
    "webp-vp8l": webp_claiming(10000, 16000, "VP8L"),  # lossless: 14-bit sides
    "webp-vp8": webp_claiming(10000, 16000, "VP8 "),
    "pnm": b"P6\n# made by hand\n20000 30000\n255\n",
    "pam": b"P7\nWIDTH 20000\nHEIGHT 30000\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n",
    "pfm": b"PF\n20000 30000\n-1.0\n",
    "sunraster": sunraster_claiming(20000, 30000),
}


@pytest.fixture
def no_decoding(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the image was handed to the decoder")

    monkeypatch.setattr(cv2, "imdecode", refuse)


@pytest.fixture
def default_limit(monkeypatch):
    monkeypatch.delenv(images.ENV_MAX_PIXELS, raising=False)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_huge_claimed_size_is_refused_before_decoding(tmp_path, name, no_decoding, default_limit):
    path = tmp_path / "small.png"  # the name says PNG whatever the content: the bytes decide
    path.write_bytes(BOMBS[name])
    header = images.read_header(path)
    width, height = (10000, 16000) if name in ("webp-vp8l", "webp-vp8") else (20000, 30000)
    assert (header.width, header.height) == (width, height)
    claim = rf"claims {width}x{height} = {width * height / 1e6:.1f} megapixels, over the limit of 100 megapixels"
    with pytest.raises(images.ImageTooLargeError, match=claim) as caught:
        images.read_image(path)
    assert (caught.value.width, caught.value.height, caught.value.limit) == (width, height, images.DEFAULT_MAX_PIXELS)
    assert isinstance(caught.value, ValueError) and images.ENV_MAX_PIXELS in str(caught.value)


def test_a_png_claiming_100000_squared_is_a_clear_error(tmp_path, default_limit):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(100_000, 100_000))
    with pytest.raises(images.ImageTooLargeError, match=r"bomb.png: the header claims 100000x100000 = 10000.0 megapixels"):
        images.read_image(path)


def test_a_decoder_failure_is_a_value_error(tmp_path):
    # over OpenCV's own limit (2^30 pixels) with ours raised: OpenCV refuses; no cv2.error escapes
    path = tmp_path / "big.png"
    path.write_bytes(png_claiming(40_000, 40_000))
    with pytest.raises(ValueError, match=r"not a readable image .*big.png"):
        images.read_image(path, max_pixels=2e9)


def _real_images(folder):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    written = {}
    for suffix, image in [
        (".png", rgb), (".jpg", rgb), (".bmp", rgb), (".tif", rgb), (".webp", rgb),
        (".hdr", rgb.astype(np.float32) / 255), (".ppm", rgb), (".pgm", rgb[..., 0]), (".pbm", rgb[..., 0]),
        (".pam", rgb), (".pfm", rgb.astype(np.float32) / 255), (".ras", rgb),
    ]:
        path = folder / f"x{suffix}"
        assert cv2.imwrite(str(path), image), suffix
        written[suffix] = path
    return written


def test_every_format_header_matches_the_decoded_size(tmp_path):
    for suffix, path in _real_images(tmp_path).items():
        header = images.read_header(path)
        image, info = images.read(path)
        assert (header.height, header.width) == image.shape[:2] == (37, 53), suffix
        assert (info.width, info.height, info.format) == (53, 37, header.format)
        assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0


def test_tiled_and_bigtiff_files(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    data = np.random.default_rng(1).integers(0, 65536, (100, 120), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "tiled.tif", data, tile=(32, 32))
    tifffile.imwrite(tmp_path / "big.tif", data, bigtiff=True)
    for name in ("tiled.tif", "big.tif"):
        image, info = images.read(tmp_path / name)
        assert info.bits == 16 and info.header_bits == 16
        np.testing.assert_allclose(image[..., 0], data / 65535.0, atol=1e-6)
    assert images.read_image(tmp_path / "tiled.tif", max_pixels=20_000).shape == (100, 120, 1)


def test_huge_tiff_tiles_in_a_small_image_are_refused(tmp_path, no_decoding):
    # 120 x 100 pixels claimed, in tiles of 8192 x 8192 (the decoder would allocate a tile)
    path = tmp_path / "tiles.tif"
    path.write_bytes(tiff_claiming(120, 100, tile=8192))
    with pytest.raises(ValueError, match=r"tiles.tif: TIFF tiles of 67.1 megapixels are over the limit of 1 megapixels"):
        images.read_image(path, max_pixels=1_000_000)


def test_a_fake_frame_header_inside_metadata_is_skipped(tmp_path):
    # a JPEG whose metadata segment (APP15) holds bytes that look like a huge frame header
    ok, data = cv2.imencode(".jpg", np.full((24, 40, 3), 128, np.uint8))
    fake = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60000, 60000, 1) + b"\x01\x11\x00"
    app15 = b"\xff\xef" + struct.pack(">H", 2 + len(fake)) + fake
    raw = data.tobytes()
    path = tmp_path / "meta.jpg"
    path.write_bytes(raw[:2] + app15 + raw[2:])
    assert (images.read_header(path).width, images.read_header(path).height) == (40, 24)
    assert images.read_image(path).shape == (24, 40, 3)


def test_limit_from_argument_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    assert cv2.imwrite(str(path), np.zeros((37, 53), np.uint8))  # 1961 pixels
    monkeypatch.setenv(images.ENV_MAX_PIXELS, "1000")
    assert images.max_pixels() == 1000
    with pytest.raises(images.ImageTooLargeError, match=r"53x37 .* over the limit of 0.001 megapixels"):
        images.read_image(path)
    with pytest.raises(ValueError, match=r"x.png: the header claims 53x37"):
        datasets.read_image(path)  # the data sets read through the same reader
    assert images.read_image(path, max_pixels=2000).shape == (37, 53, 1)  # the argument wins
    monkeypatch.setenv(images.ENV_MAX_PIXELS, "2.5e3")
    assert images.max_pixels() == 2500 and images.read_image(path).shape == (37, 53, 1)
    monkeypatch.setenv(images.ENV_MAX_PIXELS, "lots")
    with pytest.raises(ValueError, match=images.ENV_MAX_PIXELS):
        images.read_image(path)
    with pytest.raises(ValueError, match="max_pixels must be"):
        images.max_pixels(0)


def test_a_folder_with_a_bomb_names_it(tmp_path, no_decoding, default_limit):
    (tmp_path / "bomb.png").write_bytes(png_claiming(20000, 20000))
    with pytest.raises(images.ImageTooLargeError, match="bomb.png"):
        datasets.load(tmp_path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"GIF89a\x10\x00\x10\x00\x00\x00\x00;", "unsupported image format GIF"),
        (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 32, "unsupported image format JPEG 2000"),
        (b"\x00\x00\x00\x1cftypavif" + b"\x00" * 32, "unsupported image format AVIF"),
        (b"hello, not an image", r"not a readable image \(unknown format"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", r"not a readable image \(truncated header\)"),
        (b"\xff\xd8\xff\xe0 truncated", r"not a readable image \(truncated header\)"),
        (b"", r"not a readable image \(the file is empty\)"),
    ],
)
def test_unsupported_and_broken_files(tmp_path, data, message, no_decoding):
    path = tmp_path / "input.png"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=rf"{message}.*input.png"):
        images.read_image(path)


def test_a_real_gif_is_refused_not_decoded(tmp_path):
    path = tmp_path / "x.gif"
    assert cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="unsupported image format GIF"):
        images.read_image(path)


def test_info_reports_bits_alpha_and_float(tmp_path):
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((4, 5), 40000, np.uint16))
    cv2.imwrite(str(tmp_path / "alpha.png"), np.zeros((4, 5, 4), np.uint8))
    cv2.imwrite(str(tmp_path / "light.hdr"), np.full((4, 5, 3), 3.0, np.float32))
    image, info = images.read(tmp_path / "deep.png")
    assert info.bits == 16 and not info.alpha and abs(float(image[0, 0, 0]) - 40000 / 65535) < 1e-6
    image, info = images.read(tmp_path / "alpha.png")
    assert info.alpha and info.channels == 4 and image.shape == (4, 5, 3)
    image, info = images.read(tmp_path / "light.hdr")
    assert info.floating and info.bits == 32 and float(image.max()) == 1.0  # clipped to [0, 1]


def test_save_image_is_atomic_and_breaks_hard_links(tmp_path):
    original = tmp_path / "mine.png"
    images.save_image(original, np.zeros((4, 4, 1), np.float32))
    before = original.read_bytes()
    link = tmp_path / "link.png"
    os.link(original, link)
    images.save_image(link, np.ones((4, 4, 1), np.float32))
    assert original.read_bytes() == before  # the other name keeps its data
    assert images.read_image(link).min() == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "mine.png"]  # no temporary file left
    mode = original.stat().st_mode & 0o777
    assert mode == 0o666 & ~images._umask()
    with pytest.raises(ValueError, match="16-bit images need a .png or .tif"):
        images.save_image(tmp_path / "x.jpg", np.zeros((4, 4, 1)), bits=16)


def test_datasets_names_are_the_images_ones():
    assert datasets.read_image is images.read_image and datasets.save_image is images.save_image
    assert datasets.convert_channels is images.convert_channels and datasets.IMAGE_SUFFIXES == images.IMAGE_SUFFIXES


@pytest.mark.parametrize(
    "array, options, error, message",
    [
        (np.zeros((8, 8, 1), np.uint8), {}, TypeError, r"image must be float32 in \[0, 1\], got uint8: divide by 255"),
        (np.zeros((8, 8, 1), np.int32), {}, TypeError, r"got dtype int32"),
        (np.zeros((8, 8), np.float32), {}, ValueError, r"image must be \(H, W, C\) or \(N, H, W, C\), got shape \(8, 8\)"),
        (np.zeros(8, np.float32), {"ranks": (2, 3, 4)}, ValueError, r"must be \(H, W\), \(H, W, C\) or \(N, H, W, C\)"),
        (np.zeros((8, 8, 2), np.float32), {}, ValueError, r"must have 1 or 3 channels on the last axis \(C 1 \(gray\) or 3"),
        (np.zeros((0, 8, 1), np.float32), {"min_side": 1}, ValueError, r"image is empty"),
        (np.full((4, 4, 1), np.nan, np.float32), {}, ValueError, r"image has 16 non-finite pixels of 16 \(NaN\)"),
        (np.full((4, 4, 1), 200.0, np.float32), {}, ValueError, r"values up to 200.*divide a 0-255 image by 255"),
    ],
)
def test_check_image_says_what_is_wrong(array, options, error, message):
    with pytest.raises(error, match=message):
        images.check_image(array, **options)


def test_check_image_passes_what_a_caller_allows():
    gray = np.zeros((8, 8), np.float64)
    assert images.check_image(gray, ranks=(2, 3)).dtype == np.float32
    wide = np.zeros((2, 8, 8, 4), np.float32)
    assert images.check_image(wide, channels=None) is wide  # float32 is not copied
    images.check_image(np.full((4, 4, 3), np.nan, np.float32), finite=False, data_range=None)
    images.check_image(np.zeros((0, 4, 1), np.float32))  # empty passes unless min_side is given
