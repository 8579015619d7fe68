"""What a video file's container says about it, read without decoding a frame: its kind (by content, not
by name), frame size, frame count and duration. The demo refuses a clip from these before anything
decodes it; the decoder (`fkp.demo.decoder`) checks the same bounds again on the frames themselves,
since a header may lie.

Four containers are read, and only these are handed to the decoder: MP4 / MOV (ISO base media boxes),
Matroska / WebM (EBML), AVI (RIFF) and GIF. The parsers walk the file's structure only (box and element
headers, block headers, GIF sub-block lengths), with a bounded number of parts, over a memory map of a
file whose size was checked first. No Gradio, OpenCV or model import.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

MAX_PARTS = 100_000  # boxes, elements or blocks walked in one file; a real 30-s clip has a few thousand
MAX_SUB_BLOCKS = 1_000_000  # a GIF's data sub-blocks (at most 255 bytes each: ~100,000 in a 25 MB file)
FORMATS = "MP4, MOV, WebM, MKV, AVI or an animated GIF"


class ProbeError(Exception):
    """A file that is not a clip the demo reads; the message says why in plain words (no path)."""


@dataclass
class ClipHeader:
    """What the container declares: ``kind`` (mp4, matroska, avi, gif), the largest frame size of its
    video tracks, the first video track's frame count and duration (0 where it does not say), and the
    file extension under which `fkp.video.read_video` reads this kind."""

    kind: str
    width: int
    height: int
    frames: int
    seconds: float

    @property
    def suffix(self) -> str:
        return {"mp4": ".mp4", "matroska": ".mkv", "avi": ".avi", "gif": ".gif"}[self.kind]


def read_header(path: str | Path) -> ClipHeader:
    """The header of the clip at ``path``; raises ProbeError for anything that is not one of the four
    containers, or whose structure cannot be walked."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            raise ProbeError("the file is empty")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            head = data[:12]
            try:
                if head[4:8] == b"ftyp":
                    return _Mp4(data).header()
                if head[:4] == b"\x1a\x45\xdf\xa3":
                    return _Matroska(data).header()
                if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
                    return _Avi(data).header()
                if head[:6] in (b"GIF87a", b"GIF89a"):
                    return _gif(data)
            except (struct.error, IndexError, ValueError, OverflowError):
                raise ProbeError("its structure is damaged or cut short") from None
            except RecursionError:  # boxes or elements nested thousands deep (a real clip: under ten)
                raise ProbeError("its parts are nested far deeper than a clip's") from None
    raise ProbeError(f"it is not a video in a format the demo reads ({FORMATS})")


class _Walker:
    """Counts the parts walked, so that no file costs more than MAX_PARTS steps."""

    def __init__(self, data: mmap.mmap):
        self.data, self.size, self.parts = data, len(data), 0

    def step(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ProbeError(f"it has more than {MAX_PARTS:,} parts, far more than a short clip has")

    def unpack(self, fmt: str, offset: int) -> tuple:
        if offset < 0 or offset + struct.calcsize(fmt) > self.size:
            raise ValueError("beyond the end")
        return struct.unpack_from(fmt, self.data, offset)


class _Mp4(_Walker):
    """ISO base media (MP4, MOV): moov/trak boxes for each video track's size and sample count, moof/trun
    boxes for fragmented files."""

    CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts"}

    def boxes(self, start: int, end: int):
        """(type, payload start, end) of the boxes in [start, end)."""
        offset = start
        while offset + 8 <= end:
            self.step()
            size, kind = self.unpack(">I4s", offset)
            header = 8
            if size == 1:
                (size,) = self.unpack(">Q", offset + 8)
                header = 16
            elif size == 0:
                size = end - offset
            if size < header:
                raise ValueError("a box smaller than its header")
            stop = min(offset + size, end)  # a file cut short: its last box ends with it
            yield kind, offset + header, stop
            offset = stop

    def header(self) -> ClipHeader:
        tracks: list[dict] = []
        fragments: dict[int, int] = {}
        movie = {"timescale": 0, "duration": 0}
        for kind, start, end in self.boxes(0, self.size):
            if kind == b"moov":
                self.movie(start, end, tracks, movie)
            elif kind == b"moof":
                self.fragment(start, end, fragments)
        videos = [track for track in tracks if track.get("handler") == b"vide"]
        if not tracks:
            raise ProbeError("its index (the moov box) is missing: the file may be cut short")
        if not videos:
            raise ProbeError("it has no video track")
        first = videos[0]
        frames = first.get("samples", 0) or fragments.get(first.get("id", -1), 0)
        timescale, duration = first.get("timescale", 0), first.get("duration", 0)
        if not (timescale and duration):
            timescale, duration = movie["timescale"], movie["duration"]
        seconds = duration / timescale if timescale and duration not in (0, 2**32 - 1, 2**64 - 1) else 0.0
        width = max(max(t.get("width", 0), t.get("display_width", 0)) for t in videos)
        height = max(max(t.get("height", 0), t.get("display_height", 0)) for t in videos)
        return ClipHeader("mp4", width, height, frames, seconds)

    def movie(self, start: int, end: int, tracks: list[dict], movie: dict) -> None:
        for kind, begin, stop in self.boxes(start, end):
            if kind == b"mvhd":
                version = self.data[begin]
                timescale, duration = self.unpack(
                    ">IQ" if version == 1 else ">II", begin + (20 if version == 1 else 12)
                )
                movie.update(timescale=timescale, duration=duration)
            elif kind == b"mehd" and not movie["duration"]:
                version = self.data[begin]
                (movie["duration"],) = self.unpack(">Q" if version == 1 else ">I", begin + 4)
            elif kind == b"trak":
                track: dict = {}
                self.track(begin, stop, track)
                tracks.append(track)
            elif kind in self.CONTAINERS:
                self.movie(begin, stop, tracks, movie)

    def track(self, start: int, end: int, track: dict) -> None:
        for kind, begin, stop in self.boxes(start, end):
            version = self.data[begin] if begin < stop else 0
            if kind == b"tkhd":
                (track["id"],) = self.unpack(">I", begin + (20 if version == 1 else 12))
                width, height = self.unpack(">II", stop - 8)
                track["display_width"], track["display_height"] = width >> 16, height >> 16
            elif kind == b"hdlr":  # the media's handler; in MOV, minf holds a data handler after it
                track.setdefault("handler", bytes(self.data[begin + 8 : begin + 12]))
            elif kind == b"mdhd":
                offset = begin + (20 if version == 1 else 12)
                track["timescale"], track["duration"] = self.unpack(">IQ" if version == 1 else ">II", offset)
            elif kind == b"stsd":
                # the first sample entry: size, format, 6 reserved, data reference index, then for video
                # 16 bytes of predefined/reserved fields before its width and height
                track["width"], track["height"] = self.unpack(">HH", begin + 8 + 8 + 8 + 16)
            elif kind == b"stsz":
                (track["samples"],) = self.unpack(">I", begin + 8)
            elif kind in self.CONTAINERS:
                self.track(begin, stop, track)

    def fragment(self, start: int, end: int, fragments: dict[int, int]) -> None:
        for kind, begin, stop in self.boxes(start, end):
            if kind == b"traf":
                track, samples = -1, 0
                for inner, first, _ in self.boxes(begin, stop):
                    if inner == b"tfhd":
                        (track,) = self.unpack(">I", first + 4)
                    elif inner == b"trun":
                        samples += self.unpack(">I", first + 4)[0]
                fragments[track] = fragments.get(track, 0) + samples


class _Matroska(_Walker):
    """Matroska / WebM: the tracks' pixel sizes, and the video track's blocks counted from their headers
    (Matroska declares no frame count); the duration from Info, or from the last block's time."""

    SEGMENT, CLUSTER = 0x18538067, 0x1F43B675
    # elements whose children are read; the others are skipped by their size
    MASTERS = {0x18538067, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0, 0x1F43B675, 0xA0}
    CLUSTER_CHILDREN = {0xE7, 0xA3, 0xA0, 0xA7, 0xAB, 0x5854, 0xAF}

    def vint(self, offset: int, keep_marker: bool) -> tuple[int, int]:
        first = self.data[offset]
        if first == 0:
            raise ValueError("an invalid element header")
        length = 9 - first.bit_length()
        value = int.from_bytes(self.data[offset : offset + length], "big")
        if offset + length > self.size:
            raise ValueError("beyond the end")
        if not keep_marker:
            value &= (1 << (7 * length)) - 1
            if value == (1 << (7 * length)) - 1:
                value = -1  # unknown size (live recordings)
        return value, length

    def elements(self, start: int, end: int, allowed: set[int] | None = None):
        """(id, payload start, payload end) of the elements in [start, end); an element of unknown size
        ends where an element that cannot be its child begins (or at ``end``)."""
        offset = start
        while offset < end:
            self.step()
            element, id_length = self.vint(offset, keep_marker=True)
            if allowed is not None and element not in allowed:
                return
            size, size_length = self.vint(offset + id_length, keep_marker=False)
            begin = offset + id_length + size_length
            if size < 0:
                children = self.CLUSTER_CHILDREN if element == self.CLUSTER else None
                stop = self.unknown_end(begin, end, children)
            else:
                stop = min(begin + size, end)  # a file cut short: its last element ends with it
            yield element, begin, stop
            offset = stop

    def unknown_end(self, begin: int, end: int, children: set[int] | None) -> int:
        """Where an element of unknown size ends: at its parent's end, or (a cluster) before the first
        element that is not a cluster's child."""
        if children is None:
            return end
        offset = begin
        for _element, _first, stop in self.elements(begin, end, allowed=children):
            offset = stop
        return offset

    def unsigned(self, begin: int, end: int) -> int:
        if end - begin > 8:
            raise ValueError("an integer longer than 8 bytes")
        return int.from_bytes(self.data[begin:end], "big")

    def header(self) -> ClipHeader:
        state = {"scale": 1_000_000, "duration": 0.0, "cluster": 0, "last": 0, "tracks": {}, "blocks": {}}
        doc = b""
        for element, begin, end in self.elements(0, self.size):
            if element == 0x1A45DFA3:
                for inner, first, stop in self.elements(begin, end):
                    if inner == 0x4282:
                        doc = bytes(self.data[first:stop]).rstrip(b"\0")
            elif element == self.SEGMENT:
                self.walk(begin, end, state, None)
        if doc not in (b"webm", b"matroska"):
            raise ProbeError(f"it is not a video in a format the demo reads ({FORMATS})")
        videos = {number: track for number, track in state["tracks"].items() if track.get("type") == 1}
        if not videos:
            raise ProbeError("it has no video track")
        number = min(videos)
        width = max(track.get("width", 0) for track in videos.values())
        height = max(track.get("height", 0) for track in videos.values())
        frames = state["blocks"].get(number, 0)
        seconds = state["duration"] * state["scale"] / 1e9
        if not seconds and frames:
            seconds = state["last"] * state["scale"] / 1e9
        return ClipHeader("matroska", width, height, frames, seconds)

    def walk(self, start: int, end: int, state: dict, track: dict | None) -> None:
        for element, begin, stop in self.elements(start, end):
            if element == 0x2AD7B1:
                state["scale"] = self.unsigned(begin, stop) or 1_000_000
            elif element == 0x4489 and stop - begin in (4, 8):
                (state["duration"],) = self.unpack(">f" if stop - begin == 4 else ">d", begin)
            elif element == 0xAE:
                entry: dict = {}
                self.walk(begin, stop, state, entry)
                if "number" in entry:
                    state["tracks"][entry["number"]] = entry
            elif track is not None and element in (0xD7, 0x83, 0xB0, 0xBA):
                key = {0xD7: "number", 0x83: "type", 0xB0: "width", 0xBA: "height"}[element]
                track[key] = self.unsigned(begin, stop)
            elif element == 0xE7:
                state["cluster"] = self.unsigned(begin, stop)
            elif element in (0xA3, 0xA1):  # SimpleBlock, Block: track number, time, flags, [lace count]
                self.block(begin, stop, state)
            elif element in self.MASTERS:
                self.walk(begin, stop, state, track)

    def block(self, begin: int, end: int, state: dict) -> None:
        number, length = self.vint(begin, keep_marker=False)
        (relative, flags) = self.unpack(">hB", begin + length)
        frames = self.data[begin + length + 3] + 1 if flags & 0x06 else 1
        state["blocks"][number] = state["blocks"].get(number, 0) + frames
        state["last"] = max(state["last"], state["cluster"] + relative)


class _Avi(_Walker):
    """AVI (RIFF): the main header's and each video stream's frame count and size."""

    def chunks(self, start: int, end: int):
        offset = start
        while offset + 8 <= end:
            self.step()
            kind, size = self.unpack("<4sI", offset)
            begin = offset + 8
            stop = min(begin + size, end)
            yield kind, begin, stop
            offset = begin + size + (size & 1)

    def header(self) -> ClipHeader:
        found = {"width": 0, "height": 0, "frames": 0, "seconds": 0.0, "video": False}
        (riff_size,) = self.unpack("<I", 4)
        self.walk(12, min(self.size, 8 + riff_size), found, None)
        if not found["video"]:
            raise ProbeError("it has no video track")
        return ClipHeader("avi", found["width"], found["height"], found["frames"], found["seconds"])

    def walk(self, start: int, end: int, found: dict, stream: list | None) -> None:
        for kind, begin, stop in self.chunks(start, end):
            if kind == b"LIST":
                form = bytes(self.data[begin : begin + 4])
                if form in (b"hdrl", b"strl", b"odml"):
                    self.walk(begin + 4, stop, found, [] if form == b"strl" else stream)
            elif kind == b"avih":
                frames, _, _, _, width, height = self.unpack("<6I", begin + 16)
                found["frames"] = max(found["frames"], frames)
                found["width"], found["height"] = max(found["width"], width), max(found["height"], height)
            elif kind == b"strh" and stream is not None:
                stream.append(bytes(self.data[begin : begin + 4]))
                if stream[0] == b"vids":
                    found["video"] = True
                    scale, rate, _, length = self.unpack("<4I", begin + 20)
                    found["frames"] = max(found["frames"], length)
                    if rate:
                        found["seconds"] = max(found["seconds"], length * scale / rate)
            elif kind == b"strf" and stream and stream[0] == b"vids":
                width, height = self.unpack("<ii", begin + 4)
                found["width"], found["height"] = max(found["width"], abs(width)), max(found["height"], abs(height))
            elif kind == b"dmlh":
                found["frames"] = max(found["frames"], self.unpack("<I", begin)[0])


def _gif(data: mmap.mmap) -> ClipHeader:
    """GIF: the logical screen's size, every frame's size, the frame count and the delays, walked over
    the blocks' lengths without decompressing them."""
    walker = _Walker(data)
    width, height, packed = walker.unpack("<HHB", 6)
    offset = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    frames, centiseconds, delay, sub_blocks = 0, 0, 0, [0]
    while offset < walker.size:
        walker.step()
        marker = data[offset]
        if marker == 0x3B:  # trailer
            break
        if marker == 0x21:  # extension: label, then sub-blocks; a graphic control extension holds a delay
            if data[offset + 1] == 0xF9 and data[offset + 2] >= 4:
                delay = walker.unpack("<H", offset + 4)[0]
            offset = _skip_sub_blocks(walker, offset + 2, sub_blocks)
        elif marker == 0x2C:  # image: position, size, flags, [colour table], LZW code size, sub-blocks
            _, _, frame_width, frame_height, flags = walker.unpack("<HHHHB", offset + 1)
            width, height = max(width, frame_width), max(height, frame_height)
            frames, centiseconds, delay = frames + 1, centiseconds + (delay or 10), 0  # 0: 100 ms, as read
            offset += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            offset = _skip_sub_blocks(walker, offset + 1, sub_blocks)
        elif frames:
            break  # junk after the last frame: decoders stop there too
        else:
            raise ValueError("an unknown block")
    if frames < 2:
        raise ProbeError("this GIF has a single frame: it is a still picture; use the Photo tab")
    return ClipHeader("gif", width, height, frames, centiseconds / 100)


def _skip_sub_blocks(walker: _Walker, offset: int, count: list[int]) -> int:
    """The offset after a chain of GIF sub-blocks (length byte, data) ended by a zero length, or the file's
    end (cut short); ``count`` holds the sub-blocks walked so far in the file (at most MAX_SUB_BLOCKS)."""
    data, size = walker.data, walker.size
    while offset < size:
        length = data[offset]
        offset += 1 + length
        count[0] += 1
        if count[0] > MAX_SUB_BLOCKS:
            raise ProbeError(f"it has more than {MAX_SUB_BLOCKS:,} data blocks, far more than a short clip has")
        if length == 0:
            break
    return offset
