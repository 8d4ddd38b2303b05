"""Small HTML building blocks for Jupyter cards (IPython's `_repr_html_` protocol): images inline, bars, tables.

Hand-written rather than a templating library: a card is a few escaped strings, and the API must
stay importable without Jupyter, IPython or matplotlib installed (and NumPy is imported only to draw).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

CARD_STYLE = "border:1px solid #ccc;border-radius:6px;padding:8px 12px;margin:4px;display:inline-block;"
BAR_COLOUR, TOP_COLOUR = "#9ab", "#2a7"


def escape(value: object) -> str:
    """Text safe inside HTML."""
    return html.escape(str(value))


def png_bytes(image) -> bytes:
    """A 2-D float image in [0, 1] (or uint8) as 8-bit grayscale PNG bytes."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        pixels = np.round(np.clip(pixels.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def img_tag(png: bytes, width: int | None = None, pixelated: bool = False, alt: str = "") -> str:
    """An <img> with the PNG inline as base64 (a notebook saved with it needs no side files)."""
    style = "image-rendering:pixelated;" if pixelated else ""
    size = f' width="{width}"' if width else ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}"{size} style="{style}" alt="{escape(alt)}"/>'


def file_img_tag(path: Path, width: int | None = None) -> str:
    """The PNG file inline, or an empty string when it is not there (a run still in progress)."""
    try:
        return img_tag(path.read_bytes(), width, alt=path.name)
    except OSError:
        return ""


def probability_bars(probabilities, highlight: int | None = None) -> str:
    """Ten horizontal bars, one per digit, the chosen one highlighted."""
    import numpy as np

    rows = []
    for digit, p in enumerate(np.asarray(probabilities, dtype=np.float64)):
        colour = TOP_COLOUR if digit == highlight else BAR_COLOUR
        rows.append(
            f'<tr><td style="padding:0 4px;text-align:right">{digit}</td>'
            f'<td style="padding:0;width:120px"><div style="background:{colour};height:10px;'
            f'width:{max(0.0, min(1.0, p)) * 120:.1f}px"></div></td>'
            f'<td style="padding:0 4px;text-align:right;font-size:85%">{100 * p:.1f}%</td></tr>'
        )
    return f'<table style="border-collapse:collapse;line-height:1;font-size:80%">{"".join(rows)}</table>'


def table(header: list[str], rows: list[list[object]]) -> str:
    """A plain HTML table (cells escaped)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def card(title: str, facts: list[tuple[str, object]], extra: str = "") -> str:
    """A small box: a bold title, `name: value` lines, then any extra HTML (plots)."""
    lines = "".join(f"<div><b>{escape(k)}</b>: {escape(v)}</div>" for k, v in facts if v is not None)
    return f'<div style="{CARD_STYLE}"><div style="font-weight:bold">{escape(title)}</div>{lines}{extra}</div>'


def percent(value: float | None) -> str | None:
    """A fraction as '99.12%', or None when unknown."""
    return None if value is None else f"{100 * value:.2f}%"


class Picture:
    """A PNG shown inline by Jupyter (`_repr_png_`); `path` says where it lives."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data = self.path.read_bytes()

    def _repr_png_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"Picture('{self.path}', {len(self.data)} bytes)"
