"""Charts for the reports, drawn as SVG by hand: a few rectangles, lines and labels need no
plotting library, and the page stays one self-contained file that mail and Word keep whole.

Each chart scales to the width it is given (viewBox), so a phone shows it as wide as the
screen and a printed A4 page as wide as the type area. Labels are text, so they stay sharp
and searchable; the colours are few and print as distinct greys.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..domain.figures import Tally, WeekPoint

_WIDTH = 640
_FONT = 'font-family="sans-serif" font-size="13"'
DONE_COLOUR, OPEN_COLOUR, LATE_COLOUR, LINE_COLOUR = "#2e7d32", "#cfd8dc", "#c62828", "#1565c0"


def _text(value: object) -> str:
    return html.escape(str(value))


def units_bar_chart(rows: Sequence[Tally], *, title: str, limit: int = 20) -> str:
    """Completion by unit: one bar per unit (done, open, of which overdue), worst first."""
    shown = list(rows[:limit])
    label_width, bar_left, row_height, top = 170, 180, 24, 30
    bar_width = _WIDTH - bar_left - 70
    height = top + row_height * len(shown) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" role="img" '
             f'aria-label="{_text(title)}" class="chart" {_FONT}>',
             f'<text x="0" y="18" font-weight="bold">{_text(title)}</text>']
    widest = max((row.total - row.cancelled for row in shown), default=0) or 1
    for index, row in enumerate(shown):
        y = top + index * row_height
        meant = row.total - row.cancelled
        done_w = bar_width * row.done / widest
        open_w = bar_width * (meant - row.done) / widest
        late_w = bar_width * min(row.overdue, meant - row.done) / widest
        parts += [
            f'<text x="{label_width}" y="{y + 16}" text-anchor="end">{_text(row.key)}</text>',
            f'<rect x="{bar_left}" y="{y + 4}" width="{done_w:.1f}" height="16" fill="{DONE_COLOUR}"/>',
            f'<rect x="{bar_left + done_w:.1f}" y="{y + 4}" width="{open_w:.1f}" height="16" fill="{OPEN_COLOUR}"/>',
            f'<rect x="{bar_left + done_w:.1f}" y="{y + 4}" width="{late_w:.1f}" height="16" fill="{LATE_COLOUR}"/>',
            f'<text x="{bar_left + done_w + open_w + 6:.1f}" y="{y + 16}">{row.done_percent:g}%</text>',
        ]
    legend_y = height - 8
    parts += [
        f'<rect x="{bar_left}" y="{legend_y - 10}" width="12" height="12" fill="{DONE_COLOUR}"/>',
        f'<text x="{bar_left + 16}" y="{legend_y}">已完成</text>',
        f'<rect x="{bar_left + 80}" y="{legend_y - 10}" width="12" height="12" fill="{OPEN_COLOUR}"/>',
        f'<text x="{bar_left + 96}" y="{legend_y}">未完成</text>',
        f'<rect x="{bar_left + 160}" y="{legend_y - 10}" width="12" height="12" fill="{LATE_COLOUR}"/>',
        f'<text x="{bar_left + 176}" y="{legend_y}">其中逾期</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def progress_line_chart(points: Sequence[WeekPoint], *, total: int, title: str) -> str:
    """Tasks done by the end of each week (line), and the week's progress records (columns)."""
    left, right, top, bottom = 44, 16, 30, 40
    height = 260
    plot_w, plot_h = _WIDTH - left - right, height - top - bottom
    peak_notes = max((point.notes for point in points), default=0) or 1
    scale = max(total, 1)
    step = plot_w / max(len(points) - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" role="img" '
             f'aria-label="{_text(title)}" class="chart" {_FONT}>',
             f'<text x="0" y="18" font-weight="bold">{_text(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#000"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#000"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{total}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>']
    bar = max(min(step * 0.6, 18), 2)
    for index, point in enumerate(points):
        x = left + index * step
        h = plot_h * 0.5 * point.notes / peak_notes
        parts.append(f'<rect x="{x - bar / 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                     f'fill="{OPEN_COLOUR}"/>')
    line = " ".join(f"{left + index * step:.1f},{top + plot_h - plot_h * point.done / scale:.1f}"
                    for index, point in enumerate(points))
    parts.append(f'<polyline points="{line}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2.5"/>')
    for index in sorted({0, len(points) // 2, len(points) - 1}):
        if 0 <= index < len(points):
            x = left + index * step
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                         f'{points[index].day.month}月{points[index].day.day}日</text>')
    legend_y = height - 4
    parts += [
        f'<line x1="{left}" y1="{legend_y - 5}" x2="{left + 20}" y2="{legend_y - 5}" stroke="{LINE_COLOUR}" '
        'stroke-width="2.5"/>',
        f'<text x="{left + 26}" y="{legend_y}">累计完成任务数</text>',
        f'<rect x="{left + 160}" y="{legend_y - 11}" width="12" height="12" fill="{OPEN_COLOUR}"/>',
        f'<text x="{left + 176}" y="{legend_y}">每周进展记录数（最多 {peak_notes} 条）</text>',
        "</svg>",
    ]
    return "\n".join(parts)
