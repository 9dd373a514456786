"""Looking at a page in a real headless Chromium (Debian's package), when one is installed.

`measure` loads a page in an iframe of a given width, a real viewport of that size, from a
wrapper page whose script reads the layout and writes it into the DOM that Chromium dumps:
no driver, no protocol, only the browser. `print_pdf` prints a page as Chromium's print
dialog would. Tests skip with one line where Chromium is absent.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TIMEOUT = 120
# The flags of a headless run on a machine without a network: without the last four, Chromium
# spends its start-up failing to reach Google's services.
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync")

# Read inside the iframe once it has loaded: the page's horizontal scroll, the body text's size,
# the charts, and date cells whose text the layout broke over more than one line.
_MEASURE = """
document.getElementById('page').addEventListener('load', function () {
  var d = this.contentDocument, w = this.contentWindow, root = d.documentElement;
  var broken = Array.from(d.querySelectorAll('td')).filter(function (td) {
    if (!/^\\d{4}-\\d{2}-\\d{2}( \\d{2}:\\d{2})?$/.test(td.textContent)) return false;
    var range = d.createRange(); range.selectNodeContents(td);
    var tops = new Set(Array.from(range.getClientRects()).map(function (r) { return Math.round(r.top); }));
    return tops.size > 1;
  }).map(function (td) { return td.textContent; });
  var sizes = Array.from(d.querySelectorAll('p, li, td')).map(function (e) { return parseFloat(w.getComputedStyle(e).fontSize); });
  // A chart's labels as the reader sees them: the SVG's font size times its scale, and any label
  // that reaches past the chart's own box (and so is cut off).
  var labels = [], clipped = [];
  d.querySelectorAll('svg').forEach(function (chart) {
    var box = chart.getBoundingClientRect(), scale = box.width / chart.viewBox.baseVal.width;
    chart.querySelectorAll('text').forEach(function (label) {
      labels.push(parseFloat(w.getComputedStyle(label).fontSize) * scale);
      var r = label.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5) clipped.push(label.textContent);
    });
  });
  document.body.setAttribute('data-layout', JSON.stringify({
    scroll_width: root.scrollWidth, client_width: root.clientWidth,
    smallest_text: Math.min.apply(null, sizes), charts: d.querySelectorAll('svg').length, broken_dates: broken,
    smallest_chart_label: Math.min.apply(null, labels), clipped_chart_labels: clipped}));
});
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    return found


def _run(page: Path, profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *_FLAGS, f"--user-data-dir={profile}", *arguments, page.resolve().as_uri()],
        capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT, check=False,
    )


def measure(page: Path, width: int, workdir: Path) -> dict[str, object]:
    """How `page` lays out in a viewport `width` CSS pixels wide."""
    wrapper = workdir / f"measure-{width}.html"
    wrapper.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe id="page" src="{html.escape(page.resolve().as_uri())}" '
        f'style="width:{width}px;height:900px;border:0"></iframe><script>{_MEASURE}</script></body></html>',
        encoding="utf-8",
    )
    result = _run(wrapper, workdir / "profile", "--allow-file-access-from-files", "--dump-dom")
    found = re.search(r'data-layout="([^"]*)"', result.stdout)
    assert found, f"Chromium measured nothing: {result.returncode} {result.stderr[-2000:]}"
    measured: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return measured


def print_pdf(page: Path, target: Path, workdir: Path) -> Path:
    """`page` printed to PDF by Chromium, without the browser's own header and footer lines."""
    result = _run(page, workdir / "profile", "--no-pdf-header-footer", f"--print-to-pdf={target}")
    assert target.exists(), f"Chromium printed nothing: {result.returncode} {result.stderr[-2000:]}"
    return target
