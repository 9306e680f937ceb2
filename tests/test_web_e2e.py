"""End to end: the Gradio app on 127.0.0.1 driven by headless Chromium (Playwright).

Uploads a noisy PNG and its clean reference, runs DnCNN-B, checks that the denoised image
appears and that the PSNR shown equals ``metrics.psnr`` of the same denoiser on the same input;
then a corrupt upload shows an error and the next good upload still works. Skips (with the
reason) when gradio, playwright or a Chromium binary is missing. With
``DENOISE_TF_WEB_SCREENSHOT=path`` the page is also saved there (figures/web_demo.png).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web demo needs gradio: pip install -e '.[web]'")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright: pip install playwright")

from denoise_tf import datasets, metrics, noise, pretrained, web  # noqa: E402

MODEL = "dncnn-b"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    if MODEL not in pretrained.available():
        pytest.skip(f"shipped weights {MODEL} not installed")
    web.warmup(MODEL)
    app = web.build_app(default_model=MODEL)
    app.queue()
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium binary (apt-get install -y chromium; .ci/run installs it)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1150}
        )
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(server, wait_until="domcontentloaded")
        page.wait_for_selector("#run")
        yield page
        browser.close()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    clean = web.load_sample("camera.png")[:160, :192]
    noisy = noise.apply(clean, "gaussian:sigma=25", seed=[0])
    clean_path = datasets.save_image(folder / "clean.png", clean)
    noisy_path = datasets.save_image(folder / "noisy.png", noisy)
    corrupt = folder / "broken.png"
    corrupt.write_bytes(noisy_path.read_bytes()[:300])  # a truncated PNG
    return {"clean": clean_path, "noisy": noisy_path, "corrupt": corrupt}


def _upload(page, box: str, path: Path) -> None:
    """Put ``path`` into the gr.File ``#box`` (clearing what is there); one retry on a slow machine."""
    for attempt in range(2):
        clear = page.locator(f"#{box} button[aria-label='Clear']")
        if clear.count():
            clear.first.click()
        page.locator(f"#{box} input[type=file]").set_input_files(str(path))
        try:
            page.locator(f"#{box}").get_by_text(path.name).first.wait_for(timeout=30_000)
            return
        except playwright_api.TimeoutError:
            if attempt:
                page.screenshot(path=str(path.with_name(f"failed-upload-{box}.png")), full_page=True)
                raise


def _run(page) -> str:
    """Click Denoise; the status after the app answers (each answer starts "[request N]")."""
    before = page.locator("#status textarea").input_value()
    page.click("#run")
    page.wait_for_function(
        "before => { const v = document.querySelector('#status textarea').value; return v && v !== before; }",
        arg=before,
        timeout=60_000,
    )
    return re.sub(r"^\[request \d+\] ", "", page.locator("#status textarea").input_value())


def test_browser_upload_denoise_error_and_recover(page, images):
    page.locator("#noise input").click()
    page.get_by_role("option", name=web.NO_NOISE, exact=True).click()
    _upload(page, "reference", images["clean"])

    # 1. A noisy PNG: the denoised image appears; the PSNR shown is the library's.
    _upload(page, "upload", images["noisy"])
    status = _run(page)
    assert status.startswith("OK"), status
    page.locator("#denoised img").wait_for()
    assert page.locator("#denoised img").get_attribute("src")
    shown = page.inner_text("#metrics")
    match = re.search(rf"denoised \({MODEL}\)\s*\|?\s*([\d.]+)", shown)
    assert match, shown
    noisy = datasets.read_image(images["noisy"])
    clean = datasets.read_image(images["clean"])
    expected = metrics.psnr(clean, web.run_denoiser(MODEL, noisy))  # the page's inference path (float32 or bf16)
    assert match.group(1) == f"{expected:.2f}"
    assert page.locator("#download").is_enabled()

    # 2. A corrupt upload: an error in the page, and the app keeps serving.
    _upload(page, "upload", images["corrupt"])
    status = _run(page)
    assert status.startswith("Error:") and "not a readable image" in status, status

    # 3. The next good upload works again.
    _upload(page, "upload", images["noisy"])
    status = _run(page)
    assert status.startswith("OK"), status
    assert re.search(rf"denoised \({MODEL}\)\s*\|?\s*{re.escape(f'{expected:.2f}')}", page.inner_text("#metrics"))

    target = os.environ.get("DENOISE_TF_WEB_SCREENSHOT")
    if target:  # once the error toast has gone
        page.wait_for_function("!document.body.innerText.includes('not a readable image')", timeout=20_000)
        page.screenshot(path=target, full_page=True)
