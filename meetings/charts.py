"""Small bar charts for the lifecycle page, drawn on the server as SVG geometry (no JavaScript, nothing fetched):
the template turns the bars into <rect> elements."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 560, 160, 44, 20, 10


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Chart:
    title: str
    unit: str
    top_value: float
    bars: list[Bar] = field(default_factory=list)
    labels: list[tuple[float, str]] = field(default_factory=list)  # (x, day) under each group
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, name)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: int = HEIGHT - BOTTOM


def bar_chart(title: str, unit: str, days: list[str], series: list[tuple[str, str, list[float | None]]]) -> Chart:
    """Grouped bars: one group per day, one bar per series (name, css class, one value per day; None draws none).
    The scale starts at 0 and ends at the largest value, which the axis names with ``unit``."""
    values = [v for _name, _css, row in series for v in row if v is not None]
    top = max(values, default=0) or 1
    plot_height = HEIGHT - BOTTOM - TOP
    group = (WIDTH - LEFT) / max(len(days), 1)
    bar_width = group * 0.8 / max(len(series), 1)
    chart = Chart(title=title, unit=unit, top_value=top, legend=[(css, name) for name, css, _row in series])
    for i, day in enumerate(days):
        start = LEFT + i * group + group * 0.1
        chart.labels.append((start + group * 0.4, day))
        for j, (name, css, row) in enumerate(series):
            value = row[i]
            if value is None:
                continue
            height = plot_height * value / top
            chart.bars.append(
                Bar(
                    x=round(start + j * bar_width, 1),
                    y=round(HEIGHT - BOTTOM - height, 1),
                    width=round(bar_width - 1, 1),
                    height=round(height, 1),
                    css=css,
                    title=f"{day} {name}: {value:g} {unit}",
                )
            )
    return chart
