"""A self-contained HTML report: text, tables and figures as embedded PNG (no scripts, no
external resources), written atomically."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
.note { background: #f7f7e8; border-left: 4px solid #cc9; padding: 0.5em 1em; }
"""


def figure_png(fig, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed afterwards)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)  # the figures use constrained layout
    fig.clf()
    return buf.getvalue()


@dataclass
class Report:
    """Build a report section by section, then :meth:`render` or :meth:`write` it.

    >>> r = Report("title")
    >>> r.section("Numbers").paragraph("1 < 2").table(["a"], [[1]])  # doctest: +ELLIPSIS
    Report(...)
    >>> "<h2>Numbers</h2>" in r.render()
    True
    """

    title: str
    parts: list[str] = field(default_factory=list)
    figures: int = 0

    def section(self, title: str) -> Report:
        self.parts.append(f"<h2>{html.escape(title)}</h2>")
        return self

    def paragraph(self, text: str, *, note: bool = False) -> Report:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def table(self, header: list[str], rows: list[list]) -> Report:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")
        return self

    def image(self, png: bytes, caption: str) -> Report:
        """An embedded PNG with a caption (its alt text too)."""
        self.figures += 1
        data = base64.b64encode(png).decode("ascii")
        alt = html.escape(caption, quote=True)
        self.parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>Figure {self.figures}. {html.escape(caption)}</figcaption></figure>"
        )
        return self

    def figure(self, fig, caption: str) -> Report:
        return self.image(figure_png(fig), caption)

    def render(self) -> str:
        title = html.escape(self.title)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{_STYLE}</style></head>\n<body><h1>{title}</h1>\n"
            + "\n".join(self.parts)
            + "\n</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        return write_atomic(Path(path), self.render().encode("utf-8"))


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (the library's writer: temporary file, fsync,
    rename; a symlink at ``path`` is replaced, never followed), making its folder."""
    from ..train import write_bytes_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, data)
