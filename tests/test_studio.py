"""The studio (nst/studio): its controls and masks as functions, and the page in a real browser.

The browser tests start ``python studio.py`` with random weights ON PURPOSE (see conftest) and
drive Debian's headless Chromium with Playwright; they skip, with the reason, only where
Chromium or Playwright is not installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from nst.errors import ConfigError
from nst.studio import controls
from nst.studio.masks import content_masks

PROJECT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]  # a fake camera, granted
# Every run of the test server: tiny and fast; a random net needs a strong style weight (conftest);
# from the photo, and shallow style layers (small receptive fields), so what a mask leaves alone
# stays the photo even in a tiny picture.
SERVER_OPTIONS = ["precision=32-true", "accelerator=cpu", "style_weight=1e4", "init=content",
                  "style_layers=[relu1_1, relu2_1, relu3_1]"]


# --- the controls and masks as functions -------------------------------------------------------

def test_strength_is_a_log_scale_around_the_losses_calibrated_weight():
    from nst.objective.losses.registry import STYLE_LOSSES

    assert controls.style_weight(0, "gram") == STYLE_LOSSES["gram"].default_weight
    assert controls.style_weight(1, "gram") == pytest.approx(10 * STYLE_LOSSES["gram"].default_weight)
    assert controls.style_weight(-2, "mean_std") == pytest.approx(STYLE_LOSSES["mean_std"].default_weight / 100)
    with pytest.raises(ConfigError, match="Fix:"):
        controls.style_weight(0, "nope")


def test_each_control_sets_its_config_key():
    settings = controls.Settings(size=256, preset="preview", strength=0.5, stroke_size=1.5,
                                 colours="the photo's (luminance only)", style_loss="wasserstein2",
                                 smoothness=3, seed=7, blend=[0.7, 0.3])
    opts = controls.options(settings, paintings=2)
    assert opts["size"] == 256 and opts["steps"] == controls.PRESETS["preview"] and opts["seed"] == 7
    assert opts["style_scale"] == 1.5 and opts["preserve_color"] == "luminance"
    assert opts["tv_weight"] == 1e5 and opts["style_loss"] == "wasserstein2"
    assert opts["style_blend_weights"] == [0.7, 0.3]
    assert controls.options(controls.Settings(smoothness=0), 1)["tv_weight"] == 0


@pytest.mark.parametrize("text, count, message", [
    ("0.7, x", 2, "not numbers"), ("1", 2, "1 blend weights for 2"), ("-1, 2", 2, ">= 0"), ("0, 0", 2, ">= 0")])
def test_bad_blend_weights_are_one_line(text, count, message):
    with pytest.raises(ConfigError, match=message):
        controls.parse_blend(text, count)
    assert controls.parse_blend("", 3) == [] and controls.parse_blend("2; 1", 2) == [2.0, 1.0]


def test_print_chain_goes_up_from_the_picture():
    chain = controls.print_chain("picture_1.png", 400, 2500)
    assert chain["init"] == "picture_1.png" and chain["tile_size"] == 512
    assert chain["scales"] == [1450, 2500] and chain["steps_per_scale"] == [60, 10]
    assert controls.print_chain("p.png", 400, 800) | {"init": 0} == {"init": 0, "scales": [800], "steps_per_scale": [60], "tile_size": 512}
    with pytest.raises(ConfigError, match="not above"):
        controls.print_chain("p.png", 400, 400)


def layer(size, box):
    im = Image.new("RGBA", size, (0, 0, 0, 0))
    if box:
        ImageDraw.Draw(im).rectangle(box, fill=(255, 0, 0, 255))
    return im


def test_brush_layers_become_one_mask_per_painting():
    drawn = layer((40, 20), (0, 0, 19, 19))
    assert content_masks([layer((40, 20), None)], 1, (80, 40)) is None  # nothing drawn: no masks
    (only,) = content_masks([drawn], 1, (80, 40))
    assert only.mode == "L" and only.size == (80, 40)
    assert np.asarray(only)[:, :36].min() == 255 and np.asarray(only)[:, 44:].max() == 0
    first, second = content_masks([drawn], 2, (80, 40))  # the second painting: everywhere else
    assert (np.asarray(first) > 127).sum() + (np.asarray(second) > 127).sum() == 80 * 40


def test_a_100_mp_photo_is_refused_before_it_is_decoded(tmp_path):
    from nst.errors import ImageError
    from nst.studio.session import Session

    big = tmp_path / "big.png"
    Image.new("1", (10_000, 10_000)).save(big)  # 100 MP, 12 KB on disk
    session = Session(tmp_path / "tab")
    with pytest.raises(ImageError, match="100 MP.*Fix:"):
        session.set_photo(big)
    assert session.photo is None and not (tmp_path / "tab").exists()


def test_a_failing_run_ends_with_its_one_line_error(tmp_path):
    """A run the engine refuses (here: a server option, --option pooling=min) ends with the
    error's line, the way the page shows it, and the tab can Start again."""
    from nst.studio import handlers

    studio = handlers.Studio(tmp_path, {"weights": "random", "accelerator": "cpu", "pooling": "min"})
    session = studio.session("tab")
    session.set_photo(PROJECT / "assets" / "home.jpg")
    session.set_paintings([PROJECT / "assets" / "starry_night.jpg"])
    values = dict(size=32, preset="preview", strength=0.0, stroke_size=1.0, colours="the painting's",
                  style_loss="gram", smoothness=0, seed=0, blend="")
    *_, (_, _, _, picture, message) = handlers.start_run(studio, session, values, None)
    assert picture is None and message.startswith("**⚠") and "pooling" in message and "Fix:" in message
    assert "\n" not in message and "run" not in session.busy


# --- the page in a browser ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio_url():
    """A studio server of its own (random weights, 32-true), its address."""
    port = free_port()
    options = [a for o in SERVER_OPTIONS for a in ("--option", o)]
    proc = subprocess.Popen([sys.executable, "studio.py", "--port", str(port), "--weights", "random", *options],
                            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("nst studio: http"):
            break
        if not line and proc.poll() is not None:
            pytest.fail("the studio did not start:\n" + "".join(lines))
    else:
        proc.kill()
        pytest.fail("the studio did not start in 240 s:\n" + "".join(lines))
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # keep the pipe flowing
    yield f"http://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, studio_url):
    """A fresh tab (a session of its own) on the studio, the first example loaded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    tab = context.new_page()
    tab.goto(studio_url)
    tab.wait_for_selector("#start")
    yield tab
    context.close()


def load_example(tab, index: int = 0):
    tab.click(f"#example-{index}")
    wait_message(tab, "painting(s)")


def wait_message(tab, text: str, timeout: float = 120):
    tab.wait_for_function("t => document.querySelector('#message').innerText.includes(t)", arg=text,
                          timeout=timeout * 1000)
    return tab.inner_text("#message")


def set_number(tab, elem_id: str, value):
    box = tab.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def preview_src(tab, elem_id: str = "preview") -> str | None:
    img = tab.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None


def download(tab, tmp_path: Path, name: str = "picture.png") -> Path:
    tab.wait_for_selector("#download:not([disabled])")
    with tab.expect_download() as info:
        tab.click("#download")
    path = tmp_path / name
    info.value.save_as(path)
    return path


def reproduce_command(tab) -> str:
    tab.wait_for_function("document.querySelector('#reproduce .cm-content').innerText.includes('train.py')")
    return " ".join(tab.inner_text("#reproduce .cm-content").split())


def test_start_watch_stop_download(page, browser, studio_url, tmp_path):
    load_example(page)
    set_number(page, "size", 32)
    page.click("#preset label:has-text('final')")  # 500 steps: Stop comes first
    page.click("#start")
    seen, deadline = [], time.monotonic() + 120
    while len(set(seen)) < 3 and time.monotonic() < deadline:  # the first picture and two changes
        src = preview_src(page)
        if src and src not in seen:
            seen.append(src)
        time.sleep(0.05)
    assert len(set(seen)) >= 3, f"the preview changed {len(set(seen)) - 1} times"
    assert "step" in page.inner_text("#progress")
    page.click("#stop")
    message = wait_message(page, "stopped")
    step = int(re.search(r"step (\d+)", message).group(1))
    assert 0 < step < 500
    png = download(page, tmp_path)
    with Image.open(png) as im:
        assert im.format == "PNG" and max(im.size) == 32
        config = json.loads(im.info["nst:config"]) if im.info["nst:config"].startswith("{") else im.info["nst:config"]
    assert "size" in str(config) and "32" in str(config)
    assert "nst:config_sha256" in im.info
    assert page.locator("#results img").count() == 1
    assert f"--trainer.max_steps={step}" in reproduce_command(page)
    other = browser.new_page()  # another tab: a session of its own, none of these pictures
    other.goto(studio_url)
    other.wait_for_selector("#start")
    assert other.locator("#results img").count() == 0 and other.locator("#preview img").count() == 0
    other.close()


def wait_run_or_message(tab, timeout: float = 60) -> str:
    """Wait for a run's progress bar or a finished/refused run's message; what the page says."""
    tab.wait_for_function("""() => document.querySelector('#progress').innerText.includes('step') ||
        /done|stopped|Fix:/.test(document.querySelector('#message').innerText)""", timeout=timeout * 1000)
    return tab.inner_text("#progress") + " | " + tab.inner_text("#message")


def test_start_at_once_after_an_example_click_runs(page):
    """Start clicked while the example's photo and paintings are still being taken in (as soon
    as the page allows it) waits for them and runs; it used to be refused with "no photo yet",
    a line the example's "1 painting(s)" overwrote at once: Start did nothing, visibly."""
    set_number(page, "size", 32)
    page.click("#preset label:has-text('preview')")
    page.click("#example-0")
    page.click("#start")
    said = wait_run_or_message(page)
    assert "no photo" not in said and "no painting" not in said, said
    assert "done" in wait_message(page, "done", timeout=120)
    assert "preview · 32 px · gram" in page.inner_text("#message")


def test_every_click_answers(page):
    page.click("#stop")
    assert "nothing to stop" in wait_message(page, "nothing to stop", timeout=10)
    page.click("#print-start")
    assert "no picture yet" in wait_message(page, "no picture yet", timeout=10)
    assert "none yet" in page.inner_text("#download")
    page.click("#start")
    assert "no photo yet" in wait_message(page, "no photo yet", timeout=30)
    load_example(page)
    set_number(page, "size", 32)
    page.click("#preset label:has-text('final')")
    page.click("#start")
    page.wait_for_function("document.querySelector('#progress').innerText.includes('step')", timeout=120_000)
    assert "final · 32 px · gram" in page.inner_text("#progress")
    page.click("#start")  # again, while it runs
    assert "already going" in wait_message(page, "already going", timeout=10)
    page.click("#stop")
    assert "stopped" in wait_message(page, "stopped: kept", timeout=60)


def test_a_failing_run_says_its_one_line_error(page):
    load_example(page)
    set_number(page, "size", 32)
    set_number(page, "strength", 5)  # the slider's range ends at 2: the browser clamps it, or the run refuses
    page.fill("#blend textarea", "0.5, x")
    page.click("#start")
    message = wait_message(page, "Fix:", timeout=30)
    assert "blend weights" in message and "\n" not in message.strip()


def test_reproduce_command_makes_the_same_picture(page, tmp_path):
    load_example(page)
    set_number(page, "size", 32)
    page.click("#preset label:has-text('preview')")
    set_number(page, "seed", 3)
    page.click("#start")
    wait_message(page, "done")
    png = download(page, tmp_path)
    command = shlex.split(reproduce_command(page))
    assert command[:2] == ["python", "train.py"] and "--data.seed=3" in command
    out = tmp_path / "again"
    subprocess.run([sys.executable, *command[1:], f"--output_dir={out}"], cwd=PROJECT, check=True,
                   capture_output=True, timeout=300)
    (final,) = out.glob("**/final.png")
    made, again = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in (png, final))
    assert made.shape == again.shape
    assert np.abs(made - again).max() <= 1  # the same picture (a rounding step at most)


def test_bad_uploads_get_a_message_and_the_page_goes_on(page, tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is not a picture")
    page.locator("#paintings input[type=file]").set_input_files(str(not_image))
    message = wait_message(page, "Fix:")
    assert "painting 1" in message and "cannot read" in message
    truncated = tmp_path / "half.png"
    truncated.write_bytes((PROJECT / "docs" / "index" / "starry.png").read_bytes()[:3000])
    page.locator("#photo input[type=file]").set_input_files(str(truncated))
    page.wait_for_function("document.querySelector('#message').innerText.includes('photo')")
    assert "Fix:" in page.inner_text("#message")
    page.click("#start")  # nothing loaded: a message, no run
    wait_message(page, "no photo yet")
    load_example(page)  # the page still works
    assert "1 painting(s)" in page.inner_text("#message")


def draw_left_half(tab):
    """Brush strokes over the left part of the mask editor's canvas."""
    tab.click("#mask-accordion .label-wrap")
    canvas = tab.locator("#masks canvas").first
    canvas.wait_for()
    time.sleep(1)
    box = canvas.bounding_box()
    x0, x1 = box["x"] + box["width"] * 0.15, box["x"] + box["width"] * 0.45  # right of the tool palette
    for y in np.linspace(box["y"] + box["height"] * 0.15, box["y"] + box["height"] * 0.85, 14):
        tab.mouse.move(x0, y)
        tab.mouse.down()
        tab.mouse.move(x1, y, steps=8)
        tab.mouse.up()


def test_a_drawn_mask_keeps_the_style_inside_it(page, tmp_path):
    load_example(page)
    draw_left_half(page)
    set_number(page, "size", 96)
    page.click("#preset label:has-text('preview')")
    page.click("#start")
    wait_message(page, "done", timeout=240)
    png = download(page, tmp_path)
    (mask_path,) = json.loads(re.search(r"--data\.content_masks=(\[[^\]]*\])", reproduce_command(page)).group(1))
    result = Image.open(png).convert("RGB")
    photo = Image.open(PROJECT / "assets" / "building.jpg").convert("RGB").resize(result.size, Image.LANCZOS)
    mask = np.asarray(Image.open(mask_path).convert("L").resize(result.size)) / 255.0
    # The painting's colours move the local means; Adam's jitter where the style does not pull
    # (a random net's content loss holds little) averages out over a 9x9 box.
    local = [np.asarray(im.filter(ImageFilter.BoxBlur(4)), dtype=np.float32) for im in (result, photo)]
    change = np.abs(local[0] - local[1]).mean(axis=2)
    inside, outside = change[mask > 0.99].mean(), change[mask < 0.01].mean()
    assert 0.2 < (mask > 0.5).mean() < 0.8, "the strokes cover part of the photo"
    assert inside > 3 * outside, f"style inside {inside:.1f}, outside {outside:.1f} (local mean |result - photo|)"


# --- the instant picture and the webcam --------------------------------------------------------

def test_the_download_buttons_name_their_picture(tmp_path):
    from nst.studio.page import download_label
    from nst.studio.session import Picture

    picture = Picture(tmp_path / "picture_3.png", "", "", {"scales": [1450, 2500]}, 70)
    assert download_label(picture, False) == "Download PNG: picture 3 (config in its metadata)"
    assert download_label(picture, True) == "Download print PNG: picture 3, 2500 px"


def test_the_page_controls_map_onto_the_instant_ones():
    assert [controls.instant_strength(s) for s in (-2, -1, 0, 0.5, 2)] == [0.0, 0.5, 1.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="Fix:"):
        controls.instant_strength(3)
    settings = controls.Settings(size=256, strength=-1, stroke_size=1.5, colours="the photo's palette on the painting",
                                 blend=[0.7, 0.3])
    assert controls.instant_options(settings, 2) == {"size": 256, "strength": 0.5, "style_scale": 1.5,
                                                      "preserve_color": "histogram", "style_blend_weights": [0.7, 0.3]}
    assert "style_blend_weights" not in controls.instant_options(controls.Settings(blend=[1.0]), 1)


@pytest.fixture(scope="module")
def instant_weights():
    from nst.errors import WeightsError
    from nst.realtime.instant.weights import load_networks

    try:
        load_networks()
    except WeightsError as e:
        pytest.skip(f"the instant network's weights are not here ({e})")


def test_the_instant_picture_follows_the_controls(tmp_path, instant_weights):
    from nst.studio import handlers

    session = handlers.Studio(tmp_path).session("tab")
    values = dict(size=400, preset="default", strength=0.0, stroke_size=1.0, colours="the painting's",
                  style_loss="gram", smoothness=0, seed=0, blend="")  # stroke size acts above 384 px / size
    assert handlers.instant_picture(session, values, None) == (None, "")  # nothing in yet: nothing shown
    session.set_photo(PROJECT / "assets" / "home.jpg")
    session.set_paintings([PROJECT / "assets" / "starry_night.jpg", PROJECT / "assets" / "fruits.jpg"])
    painted, line = handlers.instant_picture(session, values, None)
    assert max(painted.size) == 400 and "instant picture: 400 px in" in line
    assert handlers.instant_picture(session, values, None) is None  # the same inputs: the picture shown stays
    session.set_paintings([PROJECT / "assets" / "starry_night.jpg", PROJECT / "assets" / "fruits.jpg"])
    assert handlers.instant_picture(session, values, None) is None  # the same files taken in again
    pixels = lambda im: np.asarray(im.convert("RGB"), dtype=np.float32)  # noqa: E731
    photo = pixels(Image.open(PROJECT / "assets" / "home.jpg").resize(painted.size, Image.LANCZOS))
    for change in (dict(strength=-2.0), dict(stroke_size=2.0), dict(colours="the photo's (luminance only)"),
                   dict(blend="1, 0")):
        other, _ = handlers.instant_picture(session, {**values, **change}, None)
        assert np.abs(pixels(other) - pixels(painted)).mean() > 2, change
    weaker, _ = handlers.instant_picture(session, {**values, "strength": -2.0}, None)
    assert np.abs(pixels(weaker) - photo).mean() < np.abs(pixels(painted) - photo).mean()
    left = layer((400, 300), (0, 0, 199, 299))
    masked, _ = handlers.instant_picture(session, values, {"layers": [left]})
    assert np.abs(pixels(masked) - pixels(painted)).mean() > 2
    gone, line = handlers.instant_picture(session, {**values, "blend": "1"}, None)
    assert gone is None and "blend weights" in line and "Fix:" in line


def test_a_webcam_frame_is_painted_with_the_tabs_paintings(tmp_path, instant_weights):
    from nst.studio import handlers

    session = handlers.Studio(tmp_path).session("tab")
    values = dict(size=400, preset="default", strength=0.0, stroke_size=1.0, colours="the painting's",
                  style_loss="gram", smoothness=0, seed=0, blend="")
    frame = Image.open(PROJECT / "assets" / "home.jpg").convert("RGB")
    image, line = handlers.paint_frame(session, frame, values, 256)
    assert image is None and "no painting yet" in line and "Fix:" in line
    session.set_paintings([PROJECT / "assets" / "starry_night.jpg"])
    image, line = handlers.paint_frame(session, frame, values, 256)
    assert max(image.size) == 256 and "1 painting(s)" in line


def test_a_finished_picture_names_its_download_and_the_gallery_shows_whole_pictures(page):
    """After "done: picture 1" the download button used to still say "none yet: Start first", and
    the gallery showed its first picture across its whole width, cropped by its height."""
    load_example(page)
    set_number(page, "size", 32)
    page.click("#preset label:has-text('preview')")
    for number in (1, 2):
        page.click("#start")
        wait_message(page, f"done: picture {number}", timeout=180)
        page.wait_for_function("n => document.querySelector('#download').innerText.includes('picture ' + n)",
                               arg=number, timeout=10_000)
        assert "none yet" not in page.inner_text("#download")
    page.wait_for_function("document.querySelectorAll('#results .grid-container img').length == 2")
    gallery = page.locator("#results .grid-wrap").bounding_box()
    for img in page.locator("#results .grid-container img").all():
        box = img.bounding_box()
        assert box["width"] <= gallery["width"] / 3, "four pictures a row, not one across the gallery"
        assert box["y"] + box["height"] <= gallery["y"] + gallery["height"] + 1, "the picture is cut off"
        assert img.evaluate("i => getComputedStyle(i).objectFit") == "contain"
    assert page.locator("#results .preview").count() == 0


INSTANT_SECONDS = float(__import__("os").environ.get("NST_INSTANT_SECONDS", "2.0"))  # the goal: 1 s; CI is shared


def test_the_instant_picture_shows_at_once_and_follows_the_controls(page):
    page.locator("#photo input[type=file]").set_input_files(str(PROJECT / "assets" / "building.jpg"))
    wait_message(page, "photo:")
    assert page.locator("#instant img").count() == 0  # a photo alone: no instant picture
    page.evaluate("""() => { window.uploaded = performance.now();
        new MutationObserver((_, watcher) => { if (document.querySelector('#instant img')) {
            window.shown = performance.now(); watcher.disconnect(); } })
        .observe(document.querySelector('#instant'), {childList: true, subtree: true}); }""")
    page.locator("#paintings input[type=file]").set_input_files(str(PROJECT / "assets" / "starry_night.jpg"))
    page.wait_for_function("window.shown !== undefined", timeout=30_000)
    seconds = page.evaluate("(window.shown - window.uploaded) / 1000")
    print(f"\ninstant picture {seconds:.2f} s after the painting's upload ({page.inner_text('#instant-note')})")
    assert seconds <= INSTANT_SECONDS, f"the instant picture took {seconds:.2f} s"
    first = page.locator("#instant img").get_attribute("src")
    set_number(page, "stroke", 2)  # the instant picture follows the controls
    page.wait_for_function("s => document.querySelector('#instant img').getAttribute('src') != s", arg=first,
                           timeout=30_000)
    assert "instant picture: 400 px" in page.inner_text("#instant-note")
    set_number(page, "size", 32)
    page.click("#preset label:has-text('preview')")
    page.click("#start")  # Start optimises as before
    assert "done" in wait_message(page, "done", timeout=180)
    assert page.locator("#instant img").count() == 1


def picture_of(src: str) -> np.ndarray:
    """The image at ``src`` (a page's URL or a data URL) as a small RGB array."""
    import base64
    import io
    import urllib.request

    data = (base64.b64decode(src.split(",", 1)[1]) if src.startswith("data:")
            else urllib.request.urlopen(src, timeout=30).read())
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((64, 48)), dtype=np.float32)


def test_the_webcam_paints_the_cameras_frames(browser, studio_url, instant_weights):
    """Chromium's fake camera (a green pattern, granted by the browser's flags) streams to the
    webcam tab, whose painted frames arrive, change, and are not the camera's frame."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    tab = context.new_page()
    tab.goto(studio_url)
    tab.wait_for_selector("#start")
    load_example(tab)
    tab.get_by_role("tab", name="Webcam").click()
    tab.click("#camera button:has-text('Access')")
    tab.click("#camera button:has-text('Record')")
    seen, deadline = [], time.monotonic() + 60
    while len(seen) < 3 and time.monotonic() < deadline:  # three painted frames
        src = preview_src(tab, "painted")
        if src and src not in seen:
            seen.append(src)
        time.sleep(0.05)
    assert len(seen) >= 3, f"{len(seen)} painted frame(s) in 60 s: {tab.inner_text('#camera-note')}"
    assert "painted with the instant style of 1 painting(s)" in tab.inner_text("#camera-note")
    raw = tab.evaluate("""() => { const v = document.querySelector('#camera video'), c = document.createElement('canvas');
        c.width = v.videoWidth; c.height = v.videoHeight; c.getContext('2d').drawImage(v, 0, 0);
        return c.toDataURL('image/png'); }""")
    painted, frame = picture_of(seen[-1]), picture_of(raw)
    assert np.abs(painted - frame).mean() > 20, "the painted frame is the camera's own"
    assert painted.std(axis=(0, 1)).mean() > 10, "the painting's strokes, not a flat colour"
    context.close()
