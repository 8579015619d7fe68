"""Reading images: any common format (JPEG, PNG, WebP, ..., EXIF orientation, alpha, palette,
16-bit) into (H, W, 3) uint8 RGB, with its size checked from the header before anything is decoded
and decoding memory bounded on request."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 150_000_000  # a 12000x12000 photo is fine; anything larger is refused before decoding
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # (Pillow itself only refuses beyond twice this)
# The formats fkp opens; others are refused unopened: some Pillow plug-ins (ICO, ICNS, ...) decode a
# whole embedded image while opening it, before any size check.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # (Pillow's JPEG opener also reads MPO photos)
Image.init()  # registers every plug-in, so that each of FORMATS can be named to Image.open
# A baseline JPEG has one scan, a progressive one about ten; each scan decodes the whole picture
# again, so thousands of tiny scans take minutes.
MAX_JPEG_SCANS = 64


class NotAnImageError(ValueError):
    """The input could not be read as an image; the message says which file and why, ``reason``
    only why (for a caller that names the file its own way)."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


def _reason(error: Exception) -> str:
    """Why an image could not be read, in plain words (never the library's text)."""
    import errno
    import re

    if isinstance(error, Image.DecompressionBombError):  # Pillow's own check, beyond twice MAX_PIXELS
        found = re.search(r"\((\d+) pixels\)", str(error))  # "Image size (N pixels) exceeds limit of ..."
        size = f" (it has {int(found.group(1)):,})" if found else ""
        return f"it has more than {MAX_PIXELS:,} pixels, the most fkp reads{size}; make it smaller"
    if isinstance(error, UnidentifiedImageError):
        return "its contents are not a known image format (JPEG, PNG, WebP, ...)"
    if isinstance(error, FileNotFoundError):
        return "there is no such file"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "it is a folder"
    if isinstance(error, OSError) and error.errno == errno.ELOOP:
        return "it is a symbolic link loop"
    return "the file is damaged or cut short"


def load_photo(source: str | Path | bytes | Image.Image | np.ndarray, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Any common image -> (H, W, 3) uint8 RGB, upright, at full resolution.

    Handles JPEG/PNG/WebP/..., EXIF orientation, alpha (composited on white), palette, grayscale
    and 16-bit images. Raises NotAnImageError naming the file when it is not a readable image or
    has more than ``max_pixels`` pixels (read from the header: nothing is decoded then).
    """
    return load_photo_reduced(source, max_pixels=max_pixels)[0]


def load_photo_reduced(
    source: str | Path | bytes | Image.Image | np.ndarray,
    max_pixels: int = MAX_PIXELS,
    decode_pixels: int | None = None,
) -> tuple[np.ndarray, tuple[float, float]]:
    """`load_photo` with decoding memory bounded by ``decode_pixels`` (None: no bound).

    A JPEG larger than the bound is reduced while decoding (its DCT scaling by 1/2, 1/4 or 1/8, so the
    full-size picture never exists in memory); a progressive JPEG or any other format larger than the
    bound is refused from its header. Returns the (h, w, 3) uint8 photo and its (x, y) scale to the
    original photo: a point (x, y) of the returned photo is ((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5)
    in the original (pixel centres at integers); (1.0, 1.0) when not reduced. Peak memory is about
    8 bytes per decoded pixel, whatever the bit depth. Only FORMATS are opened, and JPEGs with more
    than MAX_JPEG_SCANS scans are refused (each scan decodes the whole picture again).
    """
    if isinstance(source, np.ndarray):
        return _as_rgb(source), (1.0, 1.0)
    name = "upload" if isinstance(source, (bytes, Image.Image)) else Path(str(source)).name
    image, reason = None, None
    try:
        if isinstance(source, Image.Image):
            image, data = source, None
        else:
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            image = Image.open(io.BytesIO(data), formats=FORMATS) if data else None
        reason = _refusal(image, data, max_pixels, decode_pixels) if image is not None else "the file is empty"
        if reason is None:
            width, height = image.size
            if decode_pixels is not None and width * height > decode_pixels:  # a JPEG (_refusal): reduce it
                factor = next((f for f in (2, 4, 8) if (width / f) * (height / f) <= decode_pixels), 8)
                image.draft("RGB", (-(-width // factor), -(-height // factor)))
            image.load()
            reduced = image.size
            scale = (width / reduced[0], height / reduced[1])
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        reason = _reason(error)  # in plain words, never the library's text (which holds server paths)
    if reason is not None:
        image = data = None  # nothing decoded stays referenced by the error below
        raise NotAnImageError(f"{name} is not an image that can be read: {reason}", reason)
    if image.size != reduced:  # EXIF turned it by 90 degrees: the original's axes are swapped too
        scale = (scale[1], scale[0])
    return _as_rgb(_pixels(image)), scale


def _refusal(image: Image.Image, data: bytes | None, max_pixels: int, decode_pixels: int | None) -> str | None:
    """Why an opened (not yet decoded) image is refused, from its header alone; None if it may be read."""
    width, height = image.size
    pixels, jpeg = width * height, image.format in ("JPEG", "MPO")
    if pixels > max_pixels:
        size = f"{width}x{height} = {pixels:,}"
        return f"it has more than {max_pixels:,} pixels, the most fkp reads ({size}); make it smaller"
    if jpeg and data is not None and data.count(b"\xff\xda") > MAX_JPEG_SCANS:  # SOS markers, an upper bound
        return f"it is a JPEG of more than {MAX_JPEG_SCANS} scans, which takes too long to decode; save it again"
    if decode_pixels is not None and pixels > decode_pixels and (not jpeg or image.info.get("progressive")):
        kind = "progressive JPEG" if jpeg else (image.format or "these")
        return (
            f"it is too large to read here: {width}x{height} is {pixels / 1e6:.0f} megapixels, and "
            f"{kind} images are read up to {decode_pixels / 1e6:.0f} megapixels (baseline JPEG photos up to "
            f"{max_pixels / 1e6:.0f}). Save it as a (baseline) JPEG, or make it smaller"
        )
    return None


def _pixels(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as an (H, W), (H, W, 3) or (H, W, 4) uint8 array, converted in slices
    of rows so that no full-size temporary wider than 8 bits per channel is made."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        rgba = np.asarray(image)
        del image
        rgb = np.empty(rgba.shape[:2] + (3,), np.uint8)
        for top in range(0, len(rgba), 512):  # composited on white, 512 rows at a time
            block = rgba[top : top + 512].astype(np.uint16)
            alpha = block[..., 3:]
            rgb[top : top + 512] = ((block[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
        return rgb
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.empty(values.shape, np.uint8)
        for start in range(0, len(values), 512):
            gray[start : start + 512] = np.clip(values[start : start + 512].astype(np.float32) * (255.0 / top), 0, 255)
        return gray
    if image.mode in ("L", "RGB"):
        return np.asarray(image)
    return np.asarray(image.convert("RGB"))


def _as_rgb(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) array of any dtype -> (H, W, 3) uint8, contiguous."""
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2) if array.dtype == np.uint8 else np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 8:
        raise NotAnImageError(f"expected an image of at least 8x8 pixels, got an array of shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array.astype(np.float32) / (257.0 if array.max() > 255 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array[..., :3])


def to_original_pixels(points: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """(..., 2) points of a reduced photo (`load_photo_reduced`) in the original photo's pixels."""
    return ((np.asarray(points, dtype=np.float64) + 0.5) * np.asarray(scale) - 0.5).astype(np.float32)
