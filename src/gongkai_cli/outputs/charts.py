"""Charts for the reports: laid out once as a few shapes, then drawn as SVG for the HTML page
or as a PNG image for the Word document.

A plotting library would be tens of megabytes for two charts of rectangles, lines and labels.
The SVG scales to the width it is given (viewBox), so a phone shows it as wide as the screen;
its labels stay text. The PNG is drawn with Pillow (already installed for reading PDFs) and a
Chinese font found on the machine; where none is found, the Word report keeps the chart's
sentence only, as a label drawn without one would be empty boxes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

    from ..domain.figures import Tally, WeekPoint

# Drawn for a phone: a 390-px screen shows the chart at about 0.9 of these units, so a label
# reads at 12 px or more there; the page caps a chart's width on a desktop (report.py's CSS).
WIDTH = 400
FONT_PX = 14
# A unit's name beyond this many characters is shortened on its bar's label.
LABEL_CHARS = 10
DONE_COLOUR, OPEN_COLOUR, LATE_COLOUR, LINE_COLOUR, INK = "#2e7d32", "#cfd8dc", "#c62828", "#1565c0", "#000000"


class Shape(NamedTuple):
    """One thing drawn: a rect (x, y, w, h), a line or polyline (points), or text at (x, y)."""

    kind: str  # "rect", "line", "text"
    points: tuple[float, ...]
    colour: str = INK
    text: str = ""
    anchor: str = "start"  # text: start, middle or end at x
    bold: bool = False


class Figure(NamedTuple):
    title: str
    height: int
    shapes: tuple[Shape, ...]


def _legend(x: float, y: float, items: Sequence[tuple[str, str]], gap: float = 80) -> list[Shape]:
    shapes = []
    for index, (colour, label) in enumerate(items):
        left = x + index * gap
        shapes += [Shape("rect", (left, y - 10, 12, 12), colour), Shape("text", (left + 16, y), text=label)]
    return shapes


def units_bar_chart(rows: Sequence[Tally], *, title: str, limit: int = 20) -> Figure:
    """Completion by unit: one bar per unit (done, open, of which overdue), worst first."""
    shown = list(rows[:limit])
    label_right, bar_left, row_height, top = 150, 156, 24, 30
    bar_width = WIDTH - bar_left - 70
    height = top + row_height * len(shown) + 30
    shapes = [Shape("text", (0, 18), text=title, bold=True)]
    widest = max((row.total - row.cancelled for row in shown), default=0) or 1
    for index, row in enumerate(shown):
        y = top + index * row_height
        meant = row.total - row.cancelled
        done_w = bar_width * row.done / widest
        open_w = bar_width * (meant - row.done) / widest
        late_w = bar_width * min(row.overdue, meant - row.done) / widest
        shapes += [
            Shape("text", (label_right, y + 16), text=_short(row.key), anchor="end"),
            Shape("rect", (bar_left, y + 4, done_w, 16), DONE_COLOUR),
            Shape("rect", (bar_left + done_w, y + 4, open_w, 16), OPEN_COLOUR),
            Shape("rect", (bar_left + done_w, y + 4, late_w, 16), LATE_COLOUR),
            Shape("text", (bar_left + done_w + open_w + 6, y + 16), text=f"{row.done_percent:g}%"),
        ]
    shapes += _legend(0, height - 8, [(DONE_COLOUR, "已完成"), (OPEN_COLOUR, "未完成"), (LATE_COLOUR, "其中逾期")])
    return Figure(title, height, tuple(shapes))


def progress_line_chart(points: Sequence[WeekPoint], *, total: int, title: str) -> Figure:
    """Tasks done by the end of each week (line), and the week's progress records (columns)."""
    left, right, top, bottom, height = 44, 8, 30, 60, 280
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak_notes = max((point.notes for point in points), default=0) or 1
    step = plot_w / max(len(points) - 1, 1)
    bar = max(min(step * 0.6, 18), 2)
    shapes = [
        Shape("text", (0, 18), text=title, bold=True),
        Shape("line", (left, top + plot_h, left + plot_w, top + plot_h)),
        Shape("line", (left, top, left, top + plot_h)),
        Shape("text", (left - 6, top + 4), text=str(total), anchor="end"),
        Shape("text", (left - 6, top + plot_h), text="0", anchor="end"),
    ]
    for index, point in enumerate(points):
        x, h = left + index * step, plot_h * 0.5 * point.notes / peak_notes
        shapes.append(Shape("rect", (x - bar / 2, top + plot_h - h, bar, h), OPEN_COLOUR))
    shapes.append(Shape("line", tuple(coordinate for index, point in enumerate(points) for coordinate in
                                      (left + index * step, top + plot_h - plot_h * point.done / max(total, 1))),
                        LINE_COLOUR))
    last = len(points) - 1
    for index in sorted({0, len(points) // 2, last}):
        if 0 <= index < len(points):
            day = points[index].day
            # The first and last dates sit inside the plot's ends, not centred past them.
            anchor = "start" if index == 0 and last else "end" if index == last and last else "middle"
            shapes.append(Shape("text", (left + index * step, top + plot_h + 18), text=f"{day.month}月{day.day}日",
                                anchor=anchor))
    shapes += [Shape("line", (0, height - 29, 20, height - 29), LINE_COLOUR),
               Shape("text", (26, height - 24), text="累计完成任务数"),
               *_legend(0, height - 4, [(OPEN_COLOUR, f"每周进展记录数（最多 {peak_notes} 条）")])]
    return Figure(title, height, tuple(shapes))


def _short(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def svg(figure: Figure) -> str:
    """The figure as inline SVG, as wide as its container."""
    def esc(value: object) -> str:
        return html.escape(str(value))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {figure.height}" role="img" '
             f'aria-label="{esc(figure.title)}" class="chart" font-family="sans-serif" font-size="{FONT_PX}">']
    for shape in figure.shapes:
        p = shape.points
        if shape.kind == "rect":
            parts.append(f'<rect x="{p[0]:.1f}" y="{p[1]:.1f}" width="{max(p[2], 0):.1f}" height="{max(p[3], 0):.1f}" '
                         f'fill="{shape.colour}"/>')
        elif shape.kind == "line":
            coordinates = " ".join(f"{p[i]:.1f},{p[i + 1]:.1f}" for i in range(0, len(p), 2))
            width = 2.5 if shape.colour == LINE_COLOUR else 1
            parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{shape.colour}" stroke-width="{width}"/>')
        else:
            weight = ' font-weight="bold"' if shape.bold else ""
            parts.append(f'<text x="{p[0]:.1f}" y="{p[1]:.1f}" text-anchor="{shape.anchor}"{weight}>{esc(shape.text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def png(figure: Figure, font: Path, scale: int = 3) -> bytes:
    """The figure as a PNG `scale` times its CSS size (sharp when printed), labels in `font`."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (WIDTH * scale, figure.height * scale), "white")
    draw = ImageDraw.Draw(image)
    regular = ImageFont.truetype(str(font), FONT_PX * scale)
    for shape in figure.shapes:
        p = [value * scale for value in shape.points]
        if shape.kind == "rect":
            if shape.points[2] > 0 and shape.points[3] > 0:
                draw.rectangle((p[0], p[1], p[0] + p[2], p[1] + p[3]), fill=shape.colour)
        elif shape.kind == "line":
            draw.line(p, fill=shape.colour, width=round((2.5 if shape.colour == LINE_COLOUR else 1) * scale))
        else:
            # SVG's text sits on its baseline at y: "ls" (left, baseline) and its middle and end kin.
            anchor = {"start": "ls", "middle": "ms", "end": "rs"}[shape.anchor]
            draw.text((p[0], p[1]), shape.text, fill=INK, font=regular, anchor=anchor,
                      stroke_width=scale // 3 if shape.bold else 0, stroke_fill=INK)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# Where Chinese fonts live: Windows, macOS, then the usual Linux packages (Noto CJK, WenQuanYi, Droid).
_FONT_FILES = (
    "C:/Windows/Fonts/simhei.ttf", "C:/Windows/Fonts/msyh.ttc", "C:/Windows/Fonts/simsun.ttc",
    "/System/Library/Fonts/PingFang.ttc", "/System/Library/Fonts/STHeiti Medium.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def chinese_font() -> Path | None:
    """A font file on this machine that has Chinese characters, or None."""
    from pathlib import Path

    return next((Path(name) for name in _FONT_FILES if Path(name).is_file()), None)
