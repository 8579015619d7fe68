"""Every bound of the public server (2 CPU cores), in one place: sizes, counts, concurrency, time.

Numbers only: no imports, so any part of the demo (and a reader) finds them without loading anything.
"""

MAX_FACES = 20  # faces shown per photo (largest first); more are counted, not drawn
MAX_UPLOAD = "25mb"  # Gradio refuses larger uploads before they reach us
MAX_INLINE_BYTES = 25 * 2**20  # webcam / clipboard captures sent inline as data: URLs
# Decoding is bounded whatever the format and bit depth (peak ~8 bytes a decoded pixel): a photo of up
# to fkp.images.MAX_PIXELS is read if it is a JPEG (reduced by 1/2, 1/4 or 1/8 while decoding when larger
# than DECODE_PIXELS; coordinates are still given in original pixels); other formats up to DECODE_PIXELS.
DECODE_PIXELS = 40_000_000

LIVE_MAX_PIXELS = 3840 * 2160  # a webcam frame: 4K at most (the camera is asked for 480x360)
LIVE_MAX_BYTES = 8 * 2**20
LIVE_IDLE_SECONDS = 5.0  # a stream that sends no frame for this long is closed and frees its slot

PHOTO_CONCURRENCY = 2  # photo analyses at once (each uses both cores); the rest wait in the queue
HEATMAP_CONCURRENCY = 4  # re-renders of the heatmap view (face selector, opacity)
LIVE_STREAMS = 2  # webcam streams at once
QUEUE_SIZE = 32  # requests waiting beyond this are refused with "queue full"

STATE_SECONDS = 15 * 60  # a session's results (for the face selector / opacity) expire after this
FILE_SECONDS = 15 * 60  # Gradio's cached result files and our downloads are deleted after this
DOWNLOAD_SECONDS = 60.0  # our copy of a request's downloads, once Gradio has cached its own
LIVE_SECONDS = 5 * 60  # one webcam stream's time limit; press record again to go on

# Checked before Gradio reads a request (fkp.demo.gate):
MAX_BODY_BYTES = MAX_INLINE_BYTES * 4 // 3 + 2**20  # a JSON request: an inline capture in base64, and a little more
EVENTS_PER_CLIENT = 8  # one address's requests waiting or running at once (the page makes 1-3)
STREAMS_PER_CLIENT = 1  # one address's webcam streams at once
UPLOADS_PER_MINUTE = 30  # one address's uploads
MAX_CACHE_BYTES = 4 * 2**30  # uploads are refused while Gradio's cache holds more than this

# Video tab: a clip is checked from its container header (fkp.demo.probe) before anything decodes it,
# decoded in a child process with bounded memory and CPU (fkp.demo.decoder), and analysed within a time budget.
VIDEO_MAX_BYTES = 25 * 2**20  # the same as MAX_UPLOAD
VIDEO_MAX_SIDE = 4096  # either side of a frame, as the header declares it or as decoded
VIDEO_MAX_PIXELS = 3840 * 2160  # 4K
VIDEO_MAX_FRAMES = 900  # 30 s at 30 frames a second
VIDEO_MAX_SECONDS = 30.0
VIDEO_WORK_SIDE = 1280  # larger frames are analysed reduced to this longer side (coordinates in original pixels)
VIDEO_OUTPUT_SIDE = 640  # the annotated clip's longer side
VIDEO_MAX_FACES = 6  # faces followed per frame (largest first)
VIDEO_BUDGET_SECONDS = 120.0  # one clip's analysis; past it the job stops and keeps the frames done
VIDEO_DECODER_BYTES = 1 * 2**30  # the decoding process's address space (a frame bomb fails there, not here)
VIDEO_CONCURRENCY = 1  # clips analysed at once on the server (each uses both cores); the rest wait in the queue
VIDEOS_PER_CLIENT = 1  # one address's clips waiting or running at once
