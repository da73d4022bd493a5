"""Small server-rendered SVG charts for the canary report: no script, no CDN, nothing to load.

`series_chart` draws a metric's control and experiment series over their points (Kayenta pairs them by position,
not by time) on one value axis; `score_chart` draws the scores of a canary's runs against its thresholds. Values
that are not finite (NaN where Prometheus had no sample) leave a gap in their line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
MAX_DRAWN_POINTS = 600  # longer series are thinned to this many points per line (every n-th point)
COLORS = {"control": "#1f6feb", "experiment": "#d4731a"}


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def _label(value: float) -> str:
    return f"{value:.4g}"


def _thinned(values: Sequence[float]) -> list[tuple[int, float]]:
    step = max(1, math.ceil(len(values) / MAX_DRAWN_POINTS))
    return [(i, values[i]) for i in range(0, len(values), step)]


class _Frame:
    """Maps point indexes and values to the plot area."""

    def __init__(self, points: int, low: float, high: float):
        if high <= low:
            low, high = low - 1, high + 1
        self.points, self.low, self.high = max(points, 2), low, high

    def x(self, index: int) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * index / (self.points - 1)

    def y(self, value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (self.high - value) / (self.high - self.low)


def _paths(frame: _Frame, values: Sequence[float]) -> str:
    """An SVG path through the finite values, starting a new segment after each gap."""
    commands: list[str] = []
    pen_down = False
    for index, value in _thinned(values):
        if not math.isfinite(value):
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{frame.x(index):.1f},{frame.y(value):.1f}")
        pen_down = True
    return " ".join(commands)


def _axes(frame: _Frame, caption: str) -> list[str]:
    bottom = HEIGHT - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#888"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" font-size="10">{_label(frame.high)}</text>',
        f'<text x="{LEFT - 4}" y="{bottom}" text-anchor="end" font-size="10">{_label(frame.low)}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="10">{escape(caption)}</text>',
    ]
    return parts


def _svg(title: str, parts: list[str]) -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def series_chart(title: str, control: Sequence[object], experiment: Sequence[object]) -> Markup:
    """Control (baseline) and experiment (canary) values of one metric, by point."""
    sides = {"control": [_number(v) for v in control], "experiment": [_number(v) for v in experiment]}
    finite = [v for values in sides.values() for v in values if math.isfinite(v)]
    points = max((len(v) for v in sides.values()), default=0)
    if not finite:
        return _svg(title, [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>'])
    frame = _Frame(points, min(finite), max(finite))
    parts = _axes(frame, f"{points} points per side")
    for offset, (side, values) in enumerate(sides.items()):
        path = _paths(frame, values)
        if path:
            parts.append(f'<path d="{path}" fill="none" stroke="{COLORS[side]}" stroke-width="1.5"/>')
        legend_x = WIDTH - RIGHT - 180 + offset * 90
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 18}" width="10" height="10" fill="{COLORS[side]}"/>')
        name = "baseline" if side == "control" else "canary"
        parts.append(f'<text x="{legend_x + 14}" y="{HEIGHT - 9}" font-size="10">{name}</text>')
    return _svg(title, parts)


def score_chart(title: str, scores: Sequence[float], marginal: float | None, passing: float | None) -> Markup:
    """Each run's score (0-100) with the marginal and pass thresholds as dashed lines."""
    frame = _Frame(len(scores), 0, 100)
    parts = _axes(frame, f"{len(scores)} runs")
    for value, color in ((marginal, "#c62828"), (passing, "#2e7d32")):
        if value is not None:
            y = frame.y(value)
            parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{color}" '
                'stroke-dasharray="4 3"/>'
            )
    path = _paths(frame, list(scores))
    if path:
        parts.append(f'<path d="{path}" fill="none" stroke="#333" stroke-width="2"/>')
    for index, score in enumerate(scores):
        parts.append(f'<circle cx="{frame.x(index):.1f}" cy="{frame.y(score):.1f}" r="3" fill="#333"/>')
    return _svg(title, parts)
