"""Drawing for the demo and `fkp predict --annotated`: keypoints on photos, a zoomed upright view of
each face, per-keypoint heatmaps and a diagram of the 15 points.

All images are (H, W, 3) uint8 RGB; coordinates follow `fkp.keypoints`' pixel convention. Markers
are filled circles in the keypoint's colour with a dark outline (readable on any skin), sized to
the face they belong to.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .geometry import apply_affine, invert_affine, scale_matrix
from .keypoints import FRAME_SIZE, KEYPOINT_COLORS, KEYPOINT_NAMES

COLORS = np.array([KEYPOINT_COLORS[name] for name in KEYPOINT_NAMES], dtype=np.float32)  # (15, 3)
OUTLINE = (20, 20, 20)
BOX_COLOR = (255, 255, 255)


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@lru_cache(maxsize=8)
def font(size: int) -> ImageFont.ImageFont:
    """Pillow's bundled scalable font (no system fonts needed)."""
    return ImageFont.load_default(size=size)


def display_scale(photo: np.ndarray, max_side: int = 1280) -> float:
    return min(1.0, max_side / max(photo.shape[:2]))


def to_display(points: np.ndarray, scale: float) -> np.ndarray:
    """Photo coordinates (..., 2) -> coordinates in the photo resized by ``scale``."""
    return apply_affine(scale_matrix(scale), points)


def resize(photo: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return photo.copy()
    return cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


# The drawn photo is shown scaled down to about this many pixels across (a phone, the demo's column):
# markers and face numbers are made large enough to be seen at that size, not only at full size.
SHOWN_SIDE = 360
LABEL_PIXELS = 11  # the height of a face number's digits at that size
HERSHEY_HEIGHT = 22  # the digits' height in cv2.FONT_HERSHEY_SIMPLEX at scale 1


def marker_radius(size: float, side: float = 0.0) -> int:
    """Marker radius for a face ``size`` pixels across in an image ``side`` pixels long: small enough
    to leave eye corners visible, large enough to be seen when the image is shown `SHOWN_SIDE` px long."""
    radius = max(size / 70, 1.2 * side / SHOWN_SIDE)
    return int(np.clip(round(min(radius, size / 14)), 2, 9))


def draw_points(canvas: np.ndarray, points: np.ndarray, radius: int) -> None:
    """Draw (15, 2) points on ``canvas`` in place: keypoint colour, dark outline."""
    outline = max(1, radius // 2)
    for (x, y), color in zip(points, COLORS):
        centre = (round(float(x)), round(float(y)))
        cv2.circle(canvas, centre, radius + outline, OUTLINE, -1, cv2.LINE_AA)
        cv2.circle(canvas, centre, radius, tuple(int(c) for c in color), -1, cv2.LINE_AA)


def draw_faces(photo: np.ndarray, faces, scale: float = 1.0, labels: list[int] | None = None) -> np.ndarray:
    """The photo (resized by ``scale``) with each face's box, number (1, 2, ... or ``labels``) and 15 points."""
    canvas = resize(photo, scale)
    side = max(canvas.shape[:2])
    numbers = range(1, len(faces) + 1) if labels is None else labels
    for number, face in zip(numbers, faces):
        size = face.size * scale
        radius = marker_radius(size, side)
        if face.box is not None:
            corners = to_display(
                np.array([[face.box.x, face.box.y], [face.box.x + face.box.width, face.box.y + face.box.height]]), scale
            )
            (x0, y0), (x1, y1) = (tuple(round(float(v)) for v in corner) for corner in corners)
            thickness = max(1, round(size / 160))
            cv2.rectangle(canvas, (x0, y0), (x1, y1), OUTLINE, thickness + 2, cv2.LINE_AA)
            cv2.rectangle(canvas, (x0, y0), (x1, y1), BOX_COLOR, thickness, cv2.LINE_AA)
            shown = LABEL_PIXELS * side / SHOWN_SIDE * 250 / HERSHEY_HEIGHT  # the size whose tag is that tall
            label_face(canvas, number, (x0, y0), max(size, shown))
        draw_points(canvas, to_display(face.keypoints, scale), radius)
    return canvas


def label_face(canvas: np.ndarray, number: int, corner: tuple[int, int], size: float) -> None:
    """A white-on-dark face number tag at a box's top-left corner (in place), its digits about
    ``size`` / 11 pixels tall (``size``: the face's, or more where the image is shown scaled down)."""
    text = str(number)
    scale = float(np.clip(size / 250, 0.45, 2.4))
    thickness = max(1, round(scale * 2))
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = max(0, corner[0]), max(0, corner[1] - height - baseline - 4)
    cv2.rectangle(canvas, (x, y), (x + width + 6, y + height + baseline + 4), OUTLINE, -1)
    cv2.putText(
        canvas, text, (x + 3, y + height + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, BOX_COLOR, thickness, cv2.LINE_AA
    )


def face_view(photo: np.ndarray, face, size: int = 288) -> np.ndarray:
    """A zoomed, upright colour view of one face (the crop the model saw, at ``size`` px) with its
    15 points numbered 1-15 as in `KEYPOINT_NAMES`, in numbers still readable with the view shown
    at 3/4 of its size."""
    zoom = size / FRAME_SIZE
    matrix = scale_matrix(zoom) @ np.vstack([face.matrix, [0, 0, 1]])
    view = cv2.warpAffine(
        photo,
        matrix,
        (size, size),
        flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    points = to_display(face.frame_keypoints, zoom)
    draw_points(view, points, max(2, size // 80))
    return number_points(view, points, size // 18)


# Where each point's number goes, as a unit direction in an upright face (x right, y down): away from
# its neighbours (eye corners outwards, lip centres up and down, brows up).
LABEL_DIRECTIONS = np.array(
    [
        [0, -1],
        [0, -1],
        [-0.3, 1],
        [1, 0],
        [0.3, 1],
        [-1, 0],
        [0, -1],
        [0.7, -0.7],
        [0, -1],
        [-0.7, -0.7],
        [1, 0.3],
        [1, 0],
        [-1, 0],
        [0.8, -0.6],
        [0, 1],
    ],
    dtype=np.float64,
)
LABEL_DIRECTIONS /= np.linalg.norm(LABEL_DIRECTIONS, axis=1, keepdims=True)


def number_points(canvas: np.ndarray, points: np.ndarray, text_size: int) -> np.ndarray:
    """Write each point's number (1-15) beside it (`LABEL_DIRECTIONS`), outlined for contrast."""
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    typeface = font(max(9, text_size))
    for number, (point, color, away) in enumerate(zip(points, COLORS, LABEL_DIRECTIONS), start=1):
        x, y = point + away * text_size * 0.9
        draw.text(
            (float(x), float(y)),
            str(number),
            font=typeface,
            anchor="mm",
            fill=tuple(int(c) for c in color),
            stroke_width=max(1, text_size // 6),
            stroke_fill=OUTLINE,
        )
    return np.asarray(image)


def colorize(heatmap: np.ndarray) -> np.ndarray:
    """(H, W) values in 0..1 -> (H, W, 3) RGB with the 'inferno' colour map."""
    values = (np.clip(heatmap, 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(values, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


PADDING_GRAY = 48  # frame pixels outside the photo (the crop's padding), shown flat instead of smeared


def frame_inside(face, photo_size: tuple[int, int] | None) -> np.ndarray | None:
    """(96, 96) bool: which pixels of the face's frame come from inside the photo (``photo_size``:
    width, height in the pixels of ``face.matrix``); None where the size is not known."""
    if photo_size is None:
        return None
    width, height = photo_size
    grid = np.stack(np.meshgrid(np.arange(face.frame.shape[1]), np.arange(face.frame.shape[0])), -1)
    x, y = np.moveaxis(apply_affine(invert_affine(face.matrix), grid), -1, 0)
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def heatmap_tiles(
    face, opacity: float = 0.7, zoom: bool = False, photo_size: tuple[int, int] | None = None, tile: int = 192
) -> list[np.ndarray]:
    """The 15 heatmaps of one face, one titled tile each (number, name, confidence over the image):
    the inferno colour map, scaled to its own peak so that its spread shows, over the grayscale
    crop the model saw; the whole crop, or with ``zoom`` a 48-pixel square of the 96x96 frame
    around the decoded point. The point is marked by four ticks that leave the peak visible. The
    crop's padding (frame pixels outside the photo, `frame_inside`) is shown flat dark gray."""
    frame_size = face.frame.shape[0]
    scale = tile / (frame_size / 2 if zoom else frame_size)
    frame_to_heat = scale_matrix(face.heatmaps.shape[-1] / frame_size)  # the heatmap grid's cells, as in fkp.heatmaps
    inside = frame_inside(face, photo_size)
    frame = face.frame if inside is None else np.where(inside, face.frame, PADDING_GRAY).astype(np.uint8)
    title = tile_title_height(tile)
    tiles = []
    for index, (heatmap, point, confidence) in enumerate(zip(face.heatmaps, face.frame_keypoints, face.confidence)):
        if zoom:  # frame -> tile: the window centred on the point (pixel centres as in scale_matrix)
            shift = (tile - 1) / 2 - scale * np.asarray(point)
            to_tile = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])
        else:
            to_tile = scale_matrix(scale)
        crop = cv2.warpAffine(
            frame, to_tile, (tile, tile), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        heat_to_tile = to_tile @ np.vstack([invert_affine(frame_to_heat), [0, 0, 1]])
        heat = cv2.warpAffine(
            heatmap.astype(np.float32), heat_to_tile, (tile, tile), flags=cv2.INTER_LINEAR, borderValue=0
        )
        heat = np.clip(heat / max(float(heatmap.max()), 1e-3), 0, 1)
        weight = opacity * np.sqrt(heat)[..., None]  # sqrt: the tails of the spread stay visible
        gray = cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB).astype(np.float32)
        image = np.empty((title + tile, tile, 3), np.uint8)
        image[title:] = (gray * (1 - weight) + colorize(heat).astype(np.float32) * weight).astype(np.uint8)
        centre = apply_affine(to_tile, point)
        gap = tile // 7 if zoom else tile // 14
        draw_ticks(image[title:], (float(centre[0]), float(centre[1])), gap=gap, length=max(6, tile // 12 - 2))
        strip, x = tile_title(index, tile, title)
        image[:title] = strip
        write_digits(image[title // 2 : title], f"{confidence:.2f}", x, title - title // 2)
        tiles.append(image)
    return tiles


def heatmap_grid(
    face,
    opacity: float = 0.7,
    zoom: bool = False,
    photo_size: tuple[int, int] | None = None,
    tile: int = 192,
    columns: int = 5,
    heading: str = "",
) -> np.ndarray:
    """The 15 `heatmap_tiles` of one face in one image, ``columns`` across, headed by ``heading``."""
    tiles = heatmap_tiles(face, opacity, zoom, photo_size, tile)
    height = tiles[0].shape[0]
    header = max(28, tile // 6)
    rows = -(-len(tiles) // columns)
    grid = np.full((header + rows * height, columns * tile, 3), 255, np.uint8)
    grid[:header] = tile_title(-1, columns * tile, header, heading)[0]
    for index, image in enumerate(tiles):
        top, left = header + (index // columns) * height, (index % columns) * tile
        grid[top : top + height, left : left + tile] = image
    return grid


def tile_title_height(tile: int) -> int:
    """A tile's title: two lines (number and name; confidence), each about a tenth of the tile."""
    return 2 * round(tile * 0.135)


def fitting_font(text: str, width: float, size: int) -> ImageFont.ImageFont:
    """The title font at ``size`` px, or smaller where ``text`` would not fit in ``width``: never cut."""
    while size > 8 and font(size).getlength(text) > width:
        size -= 1
    return font(size)


@lru_cache(maxsize=64)
def tile_title(index: int, width: int, height: int, text: str = "") -> tuple[np.ndarray, int]:
    """A heatmap tile's title strip: a colour swatch, number and short name on the first line,
    "confidence" on the second, and the x where the confidence's digits go (`write_digits`);
    index -1: a one-line heading strip with ``text``. Cached: text rendering would otherwise be a
    third of a grid's time."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if index < 0:
        typeface = fitting_font(text, width - 8, max(10, height * 3 // 5))
        draw.text((4, height // 2), text, font=typeface, anchor="lm", fill=(30, 30, 30))
        return np.asarray(image), 0
    line = height // 2
    size = max(10, line * 3 // 4)
    draw.rectangle((3, 4, line - 3, line - 3), fill=tuple(int(c) for c in COLORS[index]), outline=OUTLINE)
    text = f"{index + 1} {short_name(KEYPOINT_NAMES[index])}"
    draw.text(
        (line + 2, line // 2 + 1), text, font=fitting_font(text, width - line - 4, size), anchor="lm", fill=(30, 30, 30)
    )
    label = "confidence "
    draw.text((line + 2, line + line // 2), label, font=font(size), anchor="lm", fill=(90, 90, 90))
    return np.asarray(image), line + 2 + round(font(size).getlength(label))


@lru_cache(maxsize=64)
def glyph(char: str, height: int) -> np.ndarray:
    """(height, w) coverage mask of one character in the title font (a title line ``height`` px tall)."""
    typeface = font(max(10, height * 3 // 4))
    image = Image.new("L", (max(1, round(typeface.getlength(char))), height), 0)
    ImageDraw.Draw(image).text((0, height // 2), char, font=typeface, anchor="lm", fill=255)
    return np.asarray(image, dtype=np.float32) / 255


def write_digits(strip: np.ndarray, text: str, x: int, height: int, color=(30, 30, 30)) -> None:
    """Write ``text`` (digits and '.') into a title line ``height`` px tall at ``x`` from cached glyphs (in place)."""
    for char in text:
        mask = glyph(char, height)
        width = min(mask.shape[1], strip.shape[1] - x)
        if width <= 0:
            return
        region = strip[:, x : x + width].astype(np.float32)
        alpha = mask[:, :width, None]
        strip[:, x : x + width] = (region * (1 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)
        x += mask.shape[1]


def draw_ticks(canvas: np.ndarray, centre: tuple[float, float], gap: int, length: int) -> None:
    """Four short white-on-dark ticks pointing at ``centre`` from ``gap`` pixels away (in place)."""
    x, y = centre
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        start = (round(x + dx * gap), round(y + dy * gap))
        end = (round(x + dx * (gap + length)), round(y + dy * (gap + length)))
        cv2.line(canvas, start, end, OUTLINE, 4, cv2.LINE_AA)
        cv2.line(canvas, start, end, (255, 255, 255), 2, cv2.LINE_AA)


def short_name(name: str) -> str:
    """A keypoint name shortened to fit a tile title ('left_eyebrow_outer_end' -> 'L brow outer',
    'mouth_center_top_lip' -> 'top lip')."""
    name = name.replace("mouth_center_", "")  # 'top_lip', 'bottom_lip'
    words = name.replace("_center", "").replace("_corner", "").replace("_end", "").split("_")
    side = {"left": "L", "right": "R"}.get(words[0])
    words = ([side] + words[1:]) if side else words
    return " ".join(words).replace("eyebrow", "brow")


def points_diagram(mean_points: np.ndarray, size: int = 320) -> np.ndarray:
    """A schematic face with the 15 points numbered at their mean frame positions (``mean_points``,
    (15, 2) in the 96x96 frame), as a viewer sees a subject: the subject's left is on the right."""
    zoom = size / FRAME_SIZE
    canvas = np.full((size, size, 3), 250, np.uint8)
    centre = (round(size * 0.505), round(size * 0.53))
    cv2.ellipse(canvas, centre, (round(size * 0.36), round(size * 0.47)), 0, 0, 360, (225, 205, 185), -1, cv2.LINE_AA)
    cv2.ellipse(canvas, centre, (round(size * 0.36), round(size * 0.47)), 0, 0, 360, (150, 130, 110), 2, cv2.LINE_AA)
    points = to_display(mean_points, zoom)
    draw_points(canvas, points, max(3, size // 80))
    canvas = number_points(canvas, points, size // 18)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    typeface = font(max(10, size // 26))
    draw.text((6, 6), "subject's right", font=typeface, anchor="la", fill=(60, 60, 60))
    draw.text((size - 6, 6), "subject's left", font=typeface, anchor="ra", fill=(60, 60, 60))
    return np.asarray(image)
