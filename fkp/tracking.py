"""Keypoints on a video stream (the demo's webcam tab, `FaceKeypoints.detect_for_video`, `fkp predict
clip.mp4`), after MediaPipe's face pipeline: the detector runs on the first frame, when a face is lost
and every ``redetect_every`` frames (to pick up new faces); in between, each face's crop comes from its
keypoints in the previous frame, which costs one model pass instead of a detection. The crop is moved
only when the face has (CROP_TOLERANCE): the model's answer shifts a little with its crop, so a crop
re-fitted to every frame's noisy keypoints would wander. A One Euro filter per face smooths the
keypoints so that they hold still when the face does and follow it without lag when it moves (Casiez
et al., CHI 2012). Each followed face has an id (`FaceResult.track`) that stays with it: detections are
matched to tracks by keypoint distance, not by the detector's order, so faces that cross keep theirs.
A face's box is its track's last detection, moved, scaled and turned with the face's keypoints since then
(`moved_box`), so that it stays around the face between detections.
Measured by benchmarks/video.py on a clip with known motion and sensor noise.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from .detect import Box, FaceDetector
from .framing import MEAN_FRAME_KEYPOINTS, refined_crop
from .geometry import apply_affine, fit_similarity, invert_affine
from .pipeline import FACE_SCORE_THRESHOLD, FaceResult, predict_crops
from .shipped import shipped_name

# The mean heatmap peak under which a tracked face is in doubt between detections: a detection follows at
# once, and the track goes on only if it finds its face again. It depends on the weights (measured for
# the shipped ones: see `LiveTracker.update`).
TRACK_PEAK_THRESHOLD = 0.78
# A detection continues a track whose keypoints lie within this mean distance (in face sizes); two
# tracks closer than DUPLICATE_DISTANCE have locked onto one face, and the one that jumped is dropped.
MATCH_DISTANCE = 0.35
DUPLICATE_DISTANCE = 0.15
# A track's crop moves to its re-fitted place only when that moves the face's keypoints by this much on
# average (96x96 frame px). Still faces with sensor noise (benchmarks/video.py, sigma 4-8) re-fit by
# 0.2-0.42; crops re-fitted every frame made the keypoints of a still face wander 1.7x as far as
# independent photos' do, against 0.57x with this tolerance.
CROP_TOLERANCE = 0.5
# The tracker's One Euro settings (`OneEuroFilter`'s arguments; speeds in face sizes per second), chosen
# with `python benchmarks/video.py --sweep` (30 fps, noise sigma 4 and 8, shift, turn and zoom over 1 s
# each) and tests/test_video_tracking.py's face that starts moving from a standstill. 70% of each
# point's speed is the whole face's (`rigid_motion`), whose per-point noise averages out: with fkp
# 0.6.1's weights, jitter while still 0.46x independent photos' (0.48x at noise 8), error while moving
# 0.98x (1.02x); each point's own speed gave 0.50x (0.54x) at 0.25 Hz and 0.52x (0.55x) at 0.5 Hz.
# The face's speed alone (rigid_speed 1) gave 0.45x (0.46x) but let an expression lag: a lip that
# moves 10 px in 3 frames was 3.6 px behind 3 frames later (1.9 px with 0.7, 0.9 px with 0).
SMOOTHING = {"min_cutoff": 0.25, "beta": 30.0, "derivative_cutoff": 1.0, "rigid_speed": 0.7}
# The settings depend on the weights: the accurate model's keypoints are steadier, and with the settings
# above they lagged: error while moving 1.73x independent photos' (1.70x at noise 8) against 1.21x
# (1.25x) for its unfiltered keypoints. With `trend` (each keypoint carried along with its filtered speed
# while the face moves) and the face's speed alone: jitter 0.49x (0.47x), error 1.20x (1.23x) on
# grace_hopper.jpg, and on the other example photos 0.64-1.19x where the settings above gave 0.98-1.71x;
# the lip of tests/test_live.py (5 frames after it starts moving) lags 0.36 px (0.58 px with SMOOTHING).
# The filter overshoots by about half a pixel when a face stops (the speed it carried). The rest of the
# error is the crop: the tracker's crop is fitted to the keypoints, and the model's answer there differs
# by about a pixel from the detector crop's, which sets the reference (on labelled photos the two are
# equally accurate: `fkp evaluate --pipeline photo --refine`). For fkp 0.6.1's fast weights the best settings
# of `benchmarks/video.py --sweep`, with `trend` or without, erred 5-7% less than SMOOTHING at the same
# jitter, so it kept SMOOTHING.
# fkp 0.7.1's fast weights learned from the accurate model's heatmaps and lag under SMOOTHING as it did
# (error while moving 1.14-1.27x on grace_hopper.jpg, `--seed 0, 1`, noise 4 and 8; tests/test_video_tracking.py's
# moving face 2.6 px behind); the accurate model's settings take that to 0.89-1.02x (eileen_collins.jpg: 0.63x
# against 0.90x) at jitter while still 0.34-0.55x against 0.20-0.46x, where no keypoint steps (README, "What
# tracking gives"). Other models (trained anew, a Hub upload, a model object) get SMOOTHING.
STEADY_SMOOTHING = {"min_cutoff": 1.0, "beta": 60.0, "derivative_cutoff": 2.0, "rigid_speed": 1.0, "trend": 1.0}
SMOOTHING_BY_MODEL = {"fast": STEADY_SMOOTHING, "accurate": STEADY_SMOOTHING}


def smoothing_for(source: str | Path | None) -> dict[str, float]:
    """The tracker's One Euro settings for the keypoint model from ``source`` (a copy): a shipped model's
    own, else SMOOTHING, measured with fkp 0.6.1's fast weights (also for a shipped model's weights in
    another folder, a Hub upload or a model object: pass ``LiveTracker(smoothing=...)`` there)."""
    name = shipped_name(source) if source is not None else None
    return dict(SMOOTHING_BY_MODEL.get(name, SMOOTHING))


class OneEuroFilter:
    """One Euro filter over arrays of a fixed shape: a low-pass filter whose cutoff frequency rises
    with the signal's speed. ``min_cutoff`` (Hz) sets the smoothing at rest, ``beta`` how fast the
    cutoff rises with speed; speeds are taken in units of ``unit`` per second (e.g. face sizes).
    ``rigid_speed`` (0 to 1, for (K, 2) points): the share of each point's speed replaced by the whole
    face's (`rigid_motion`): 0 each point's own, 1 the face's only (steadier at rest, but an expression,
    which moves a few points alone, hardly opens the filter). ``trend`` (0 to 1): how far each step
    starts from where the filtered speed carries the last value, not from the last value itself, which
    takes away the filter's lag behind a steady motion (at the price of a small overshoot when the
    motion stops); it applies in the share of the cutoff that speed opened, which is small at rest (what
    noise opens), so a still face's noise is hardly carried forward."""

    def __init__(
        self,
        min_cutoff: float = 0.8,
        beta: float = 3.0,
        derivative_cutoff: float = 1.0,
        rigid_speed: float = 0.0,
        trend: float = 0.0,
    ):
        if min_cutoff <= 0 or derivative_cutoff <= 0 or beta < 0:
            raise ValueError(
                f"One Euro settings need min_cutoff > 0, derivative_cutoff > 0 and beta >= 0 (got {min_cutoff}, "
                f"{derivative_cutoff}, {beta})"
            )
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self.rigid_speed, self.trend = rigid_speed, trend
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.time = 0.0

    @staticmethod
    def _alpha(dt: float, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, value: np.ndarray, timestamp: float, unit: float = 1.0) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        if self.value is None:
            self.value, self.speed, self.time = value, np.zeros_like(value), timestamp
            return value.copy()
        dt = max(timestamp - self.time, 1e-3)
        speed = (value - self.value) / dt
        if self.rigid_speed:
            rigid = rigid_motion(self.value, speed)
            speed = rigid + (1.0 - self.rigid_speed) * (speed - rigid)
        self.speed = self.speed + self._alpha(dt, self.derivative_cutoff) * (speed - self.speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self.speed) / unit
        start = self.value
        if self.trend:
            start = start + self.trend * (1.0 - self.min_cutoff / cutoff) * self.speed * dt
        self.value = start + self._alpha(dt, cutoff) * (value - start)
        self.time = timestamp
        return self.value.copy()


def rigid_motion(points: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """The part of (K, 2) ``velocity`` that one rotation + zoom + shift of all (K, 2) ``points``
    explains (least squares), point by point: what the face as a whole does, with each point's own
    noise averaged out over all of them."""
    points, velocity = np.asarray(points, np.float64), np.asarray(velocity, np.float64)
    known = np.isfinite(points).all(-1) & np.isfinite(velocity).all(-1)
    if known.sum() < 2 or np.ptp(points[known], axis=0).max() <= 1e-9:  # no turn or zoom to fit: the mean shift
        shift = velocity[known].mean(axis=0) if known.any() else np.zeros(points.shape[-1])
        return np.where(np.isfinite(points), np.broadcast_to(shift, points.shape), np.nan)
    moved = fit_similarity(points, points + velocity)
    return apply_affine(moved, points) - points


@dataclass
class Track:
    """One followed face: its last (raw) result, its keypoint filter, its id, its crop (2x3 photo ->
    frame matrix) for the next frame (None: re-fitted to ``face``'s keypoints) and its last detection:
    the box and the (raw) keypoints the face had then (`moved_box`)."""

    face: FaceResult
    smoother: OneEuroFilter = field(default_factory=OneEuroFilter)
    id: int = 0
    crop: np.ndarray | None = None
    detection: tuple[Box, np.ndarray] | None = None

    def follow(self, face: FaceResult) -> None:
        """Take this frame's raw result; the crop moves with the face, past CROP_TOLERANCE."""
        self.face = face
        fitted = refined_crop(face.keypoints)
        if self.crop is None or crop_shift(self.crop, fitted) >= CROP_TOLERANCE:
            self.crop = fitted

    def box(self, keypoints: np.ndarray) -> Box | None:
        """The last detection's box moved with the face to ``keypoints`` (the face's box where there is none)."""
        if self.detection is None:
            return self.face.box
        return moved_box(*self.detection, keypoints)


class LiveTracker:
    """Follows the faces of a video stream frame by frame; `update` returns each frame's faces with
    smoothed keypoints (photo pixels of that frame) and each face's track id (`FaceResult.track`:
    0, 1, 2, ... in order of first appearance; a lost face's id is never reused). ``smoothing``: the
    `OneEuroFilter` arguments of each track (default: `smoothing_for` the predictor's model). The crops
    follow each track's raw keypoints (``tracks[i].face``), so the smoothing changes what `update`
    returns, never what it sees."""

    def __init__(
        self,
        predictor,
        detector: FaceDetector,
        max_faces: int = 4,
        redetect_every: int = 15,
        threshold: float = FACE_SCORE_THRESHOLD,
        smoothing: dict[str, float] | None = None,
    ):
        self.predictor, self.detector = predictor, detector
        if smoothing is None:  # OneEuroFilter's arguments
            smoothing = smoothing_for(getattr(predictor, "source", None))
        self.smoothing = smoothing
        self.max_faces, self.redetect_every, self.threshold = max_faces, redetect_every, threshold
        self.tracks: list[Track] = []
        self.next_id = 0
        self.frames_since_detection = 0
        # frames on which the detector ran: "scheduled" (every redetect_every frames, all faces confident)
        # or "needed" (no face tracked yet, a face in doubt or lost)
        self.detections: Counter[str] = Counter()
        self.seconds: deque[float] = deque(maxlen=30)  # processing time of the last frames
        self.arrivals: deque[float] = deque(maxlen=30)  # when they arrived (time.monotonic)

    def update(self, frame: np.ndarray, timestamp: float | None = None) -> list[FaceResult]:
        """Faces in one (H, W, 3) RGB frame, keypoints smoothed over time, each box moved with its face."""
        started = time.perf_counter()
        self.arrivals.append(time.monotonic())
        timestamp = self.arrivals[-1] if timestamp is None else timestamp
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        pyramid = [gray]
        # between detections, a tracked face is kept while its 15 heatmaps stay confident (mean peak at least
        # TRACK_PEAK_THRESHOLD; 1st / 5th / 50th percentile on the 553 validation faces of `benchmarks/confidence.py
        # --detections`: fkp 0.6's weights 0.84 / 0.88 / 0.92, fkp 0.7.1's 0.84 / 0.87 / 0.91, lowest 0.80; with fkp
        # 0.6's weights 0.73-0.79 on blank frames (0.77 for a tracked crop of an emptied scene), 0.48-0.56 on noise: a
        # narrow margin). So a track of a face that left may live until the next detection, which re-checks every face
        # with the full face score, and a face whose peaks dip under it (fkp 0.6.1 on tests/test_live.py's small
        # crossing faces) is looked for by a detection at once and keeps its id if found (fkp 0.5's peaks were lower,
        # its threshold 0.70). Its face score is the photo pipeline's, with its track's last detection's probability
        # where the detector gives one (no second pass), else the mean peak alone (no face classifier on every frame)
        tracked = predict_crops(
            self.predictor,
            gray,
            [(t.face.box, t.crop) for t in self.tracks],
            self.detector,
            pyramid=pyramid,
            score=self.detector.scores_are_probabilities,
        )
        confident, doubtful = [], []  # a doubtful track ends unless the detection below finds its face again
        for pair in zip(self.tracks, tracked):
            (confident if float(np.mean(pair[1].confidence)) >= TRACK_PEAK_THRESHOLD else doubtful).append(pair)
        kept = _without_duplicates(confident)
        self.frames_since_detection += 1
        needed = not kept or len(kept) < len(self.tracks)
        if needed or self.frames_since_detection >= self.redetect_every:
            self.detections["needed" if needed else "scheduled"] += 1
            kept = self._detect(frame, gray, pyramid, kept, doubtful)
            self.frames_since_detection = 0
        self.tracks = []
        results = []
        for track, face in kept[: self.max_faces]:
            track.follow(face)
            self.tracks.append(track)
            smoothed = track.smoother(face.keypoints, timestamp, unit=face.size).astype(np.float32)
            results.append(replace(face, box=track.box(smoothed), keypoints=smoothed, track=track.id))
        self.seconds.append(time.perf_counter() - started)
        return results

    @property
    def frame_rate(self) -> float:
        """Frames per second arriving lately (0 until two have)."""
        if len(self.arrivals) < 2 or self.arrivals[-1] == self.arrivals[0]:
            return 0.0
        return (len(self.arrivals) - 1) / (self.arrivals[-1] - self.arrivals[0])

    def _detect(
        self,
        frame: np.ndarray,
        gray: np.ndarray,
        pyramid: list,
        kept: list[tuple[Track, FaceResult]],
        doubtful: list[tuple[Track, FaceResult]],
    ) -> list[tuple[Track, FaceResult]]:
        """Detect faces; each found face continues the kept or doubtful track (its tracked heatmaps' peaks
        fell) whose keypoints are nearest (keeping its filter and id, taking the new box), pairs taken
        nearest first; the others start new tracks. New faces and faces of doubtful tracks are predicted
        once more in the crop re-fitted to their keypoints (as the frames after will be), so that a track
        does not go on from the detector crop's slightly different answer. Kept tracks no detection
        matched stay; doubtful ones end."""
        boxes = self.detector.detect(frame)[: self.max_faces]
        found = predict_crops(
            self.predictor, gray, [(box, self.detector.crop(box)) for box in boxes], self.detector, pyramid=pyramid
        )
        found = [face for face in found if face.face_score >= self.threshold]
        candidates = kept + doubtful
        # found face -> candidate, nearest first; kept tracks first, so that a doubtful one (whose crop
        # may have slipped onto a neighbour) never takes a face that a kept track is on
        matched: dict[int, int] = {}
        for group in (range(len(kept)), range(len(kept), len(candidates))):
            distances = sorted(
                (keypoint_distance(face, candidates[j][1]), i, j)
                for i, face in enumerate(found)
                if i not in matched
                for j in group
            )
            for distance, i, j in distances:
                if distance <= MATCH_DISTANCE and i not in matched and j not in matched.values():
                    matched[i] = j
        renewed = [i for i in range(len(found)) if i not in matched or matched[i] >= len(kept)]  # new or doubtful
        refitted = predict_crops(
            self.predictor,
            gray,
            [(found[i].box, refined_crop(found[i].keypoints)) for i in renewed],
            self.detector,
            pyramid=pyramid,
        )
        refitted = dict(zip(renewed, refitted))
        result = []
        for i, face in enumerate(found):
            if i in matched and matched[i] < len(kept):
                track, tracked = kept[matched[i]]  # the tracked crop is the steadier one
                if face.box is not None:
                    track.detection = (face.box, tracked.keypoints)
                result.append((track, tracked))
                continue
            face = refitted[i]
            if i in matched:  # a doubtful track's face, found again: same id and filter, a fresh crop
                track = candidates[matched[i]][0]
                track.crop = face.matrix
            else:
                track = Track(face, OneEuroFilter(**self.smoothing), id=self.next_id, crop=face.matrix)
                self.next_id += 1
            if face.box is not None:
                track.detection = (face.box, face.keypoints)
            result.append((track, face))
        free = [pair for j, pair in enumerate(kept) if j not in matched.values()]
        return result + free  # tracked faces the detector missed stay, while they still look like faces


def crop_shift(crop: np.ndarray, other: np.ndarray) -> float:
    """How far two crops (2x3 photo -> frame matrices) of one face differ: the mean distance, in 96x96
    frame px, between where they put the average face's keypoints (MEAN_FRAME_KEYPOINTS)."""
    points = apply_affine(invert_affine(other), MEAN_FRAME_KEYPOINTS)
    return float(np.linalg.norm(apply_affine(crop, points) - MEAN_FRAME_KEYPOINTS, axis=1).mean())


def moved_box(box: Box, then: np.ndarray, now: np.ndarray) -> Box:
    """``box``, found when the face's keypoints were ``then``, moved, scaled and turned as they have moved
    since (the similarity that best maps ``then`` onto ``now``); its score stays the detection's."""
    matrix = fit_similarity(then, now)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    turn = float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))  # positive: clockwise on screen
    center = apply_affine(matrix, box.center)
    width, height = box.width * scale, box.height * scale
    landmarks = None if box.landmarks is None else apply_affine(matrix, box.landmarks)
    return replace(
        box,
        x=float(center[0] - width / 2),
        y=float(center[1] - height / 2),
        width=width,
        height=height,
        angle=box.angle - turn,
        landmarks=landmarks,
    )


def keypoint_distance(a: FaceResult, b: FaceResult) -> float:
    """The mean distance between two faces' keypoints, in units of the smaller face's size."""
    return float(np.linalg.norm(a.keypoints - b.keypoints, axis=1).mean()) / max(min(a.size, b.size), 1.0)


def _without_duplicates(kept: list[tuple[Track, FaceResult]]) -> list[tuple[Track, FaceResult]]:
    """Tracked faces, less those that now sit on another's face (two crops locked onto one face, e.g.
    when faces cross): of such a pair, the one that moved further from its previous keypoints goes."""
    moved = [keypoint_distance(track.face, face) for track, face in kept]
    dropped: set[int] = set()
    for i in range(len(kept)):
        for j in range(i + 1, len(kept)):
            if i in dropped or j in dropped:
                continue
            if keypoint_distance(kept[i][1], kept[j][1]) < DUPLICATE_DISTANCE:
                dropped.add(j if moved[j] >= moved[i] else i)
    return [pair for index, pair in enumerate(kept) if index not in dropped]


def write_y4m(path: str | Path, photo: np.ndarray, frames: int, size: tuple[int, int] = (640, 480)) -> None:
    """A short YUV4MPEG2 video for a browser's fake camera (Chromium's
    --use-file-for-fake-video-capture), used to test the live demo: the photo letterboxed to ``size``,
    drifting by a few pixels from frame to frame (so successive frames differ)."""
    width, height = size
    scale = min(width / photo.shape[1], height / photo.shape[0])
    base = np.zeros((height, width, 3), np.uint8)
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    y0, x0 = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    base[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    with Path(path).open("wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(frames):
            shift = np.float32([[1, 0, 3 * np.sin(index / 5)], [0, 1, 2 * np.cos(index / 5)]])
            frame = cv2.warpAffine(base, shift, (width, height))
            handle.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
