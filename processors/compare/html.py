"""A comparison as one self-contained HTML page: inline CSS and inline SVG charts, no scripts,
no external resources (it opens from a mail attachment or an air-gapped machine).

    render_html(comparison) -> str
"""

from __future__ import annotations

from html import escape
from typing import Any

from processors.compare.report import DASH, CaseRow, Comparison, SideCase, num

COLORS = ("#4c78a8", "#f58518")  # baseline, candidate
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#555;margin:0 0 2px}.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{border:1px solid #ddd;border-radius:6px;padding:8px 10px}
.chart h3{font-size:13px;margin:0 0 4px;font-weight:600}
table{border-collapse:collapse;width:100%;margin-top:16px}
th,td{border-bottom:1px solid #e4e4e4;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.n{text-align:right;white-space:nowrap}
tr.changed td:first-child{border-left:3px solid #f58518}.state{font-weight:600}
.published{color:#1a7f37}.withheld,.dead-letter,.missing{color:#b42318}.needs_review{color:#9a6700}
.diff{font-family:ui-monospace,Menlo,monospace;font-size:12px;margin:0;padding-left:16px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""


def render_html(c: Comparison) -> str:
    b, k = c.baseline, c.candidate
    title = f"compare {c.daemon}: {b.name} vs {k.name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{len(c.cases)} cases from {escape(c.source)} · {c.changed} differ</p>',
        f'<p class="meta legend"><span style="background:{COLORS[0]}"></span>baseline '
        f"<b>{escape(b.name)}</b> ({escape(b.model)}) → <code>{escape(b.shadow_prefix)}*</code>"
        f'<span style="background:{COLORS[1]}"></span>candidate <b>{escape(k.name)}</b> '
        f"({escape(k.model)}) → <code>{escape(k.shadow_prefix)}*</code></p>",
        "<h2>Totals</h2>",
        '<div class="charts">',
    ]
    charts: list[tuple[str, float | None, float | None, int, float | None]] = [
        ("eval accuracy", b.accuracy, k.accuracy, 2, 1.0),
        ("guardrail pass rate", b.pass_rate, k.pass_rate, 2, 1.0),
        *[(f"judge {j}", b.judge.get(j), k.judge.get(j), 2, 1.0) for j in c.judge_names],
        ("tokens (in + out)", b.input_tokens + b.output_tokens, k.input_tokens + k.output_tokens,
         0, None),
        ("cost USD", b.cost_usd, k.cost_usd, 4, None),
        ("median latency ms", b.latency_ms_median, k.latency_ms_median, 0, None),
    ]  # fmt: skip
    parts += [bar_chart(*chart) for chart in charts]
    parts.append("</div>")
    parts += _totals_table(c)
    if any(r.labeled for r in c.cases):
        parts += ["<h2>Eval score per case</h2>", _case_chart(c)]
    parts += ["<h2>Cases</h2>", _cases_table(c), "</body></html>"]
    return "\n".join(parts)


def bar_chart(
    title: str, left: float | None, right: float | None, digits: int, top: float | None
) -> str:
    """Two horizontal bars (baseline, candidate); a missing value is drawn as "—"."""
    width, label_w, bar_h = 300, 70, 20
    scale = top or max(left or 0.0, right or 0.0) or 1.0
    rows = []
    for i, (name, value) in enumerate((("baseline", left), ("candidate", right))):
        y = 8 + i * (bar_h + 8)
        length = 0.0 if value is None else (width - label_w - 60) * max(0.0, value) / scale
        rows.append(
            f'<text x="0" y="{y + 14}" font-size="12">{name}</text>'
            f'<rect class="bar" x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" '
            f'fill="{COLORS[i]}"><title>{name}: {num(value, digits)}</title></rect>'
            f'<text x="{label_w + length + 4:.1f}" y="{y + 14}" font-size="12">'
            f"{num(value, digits)}</text>"
        )
    return (
        f'<div class="chart"><h3>{escape(title)}</h3>'
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="64" '
        f'viewBox="0 0 {width} 64" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg></div>'
    )


def _case_chart(c: Comparison) -> str:
    """Grouped vertical bars: each labeled case's eval score, baseline next to candidate."""
    rows = [r for r in c.cases if r.labeled]
    group, bar_w, height, base = 44, 16, 160, 130
    width = 100 + group * len(rows)
    out = [f'<line x1="30" y1="{base}" x2="{width}" y2="{base}" stroke="#999"/>',
           '<text x="0" y="14" font-size="11">1.0</text>',
           f'<text x="0" y="{base}" font-size="11">0</text>']  # fmt: skip
    for i, r in enumerate(rows):
        x = 36 + i * group
        for j, side in enumerate((r.baseline, r.candidate)):
            h = (base - 10) * (side.score or 0.0)
            out.append(
                f'<rect class="bar" x="{x + j * bar_w}" y="{base - h:.1f}" width="{bar_w - 2}" '
                f'height="{h:.1f}" fill="{COLORS[j]}"><title>{escape(r.case_id)} '
                f"{('baseline', 'candidate')[j]}: {num(side.score)}</title></rect>"
            )
        out.append(
            f'<text x="{x}" y="{base + 14}" font-size="10" '
            f'transform="rotate(30 {x} {base + 14})">{escape(r.case_id[:14])}</text>'
        )
    return (
        f'<div class="chart"><svg role="img" aria-label="eval score per case" width="{width}" '
        f'height="{height + 20}" xmlns="http://www.w3.org/2000/svg">{"".join(out)}</svg></div>'
    )


def _totals_table(c: Comparison) -> list[str]:
    b, k = c.baseline, c.candidate
    rows: list[tuple[str, str, str]] = [
        ("model", b.model, k.model),
        ("eval accuracy (labeled)", f"{num(b.accuracy)} ({b.labeled})",
         f"{num(k.accuracy)} ({k.labeled})"),
        ("guardrail pass rate", num(b.pass_rate), num(k.pass_rate)),
        ("published", str(b.published), str(k.published)),
        *[(f"judge {j}", num(b.judge.get(j)), num(k.judge.get(j)))
          for j in c.judge_names or ["score"]],
        ("tokens in / out", f"{b.input_tokens} / {b.output_tokens}",
         f"{k.input_tokens} / {k.output_tokens}"),
        ("cost USD", num(b.cost_usd, 4), num(k.cost_usd, 4)),
        ("latency median / p95 ms", f"{num(b.latency_ms_median, 0)} / {num(b.latency_ms_p95, 0)}",
         f"{num(k.latency_ms_median, 0)} / {num(k.latency_ms_p95, 0)}"),
        ("outcomes", _counts(b.states), _counts(k.states)),
        ("errors", _counts(b.errors), _counts(k.errors)),
        ("config", _config(b.config), _config(k.config)),
    ]  # fmt: skip
    body = "".join(
        f"<tr><th>{escape(label)}</th><td>{escape(left)}</td><td>{escape(right)}</td></tr>"
        for label, left, right in rows
    )
    head = "<tr><th></th><th>baseline</th><th>candidate</th></tr>"
    return [f'<table class="totals">{head}{body}</table>']


def _cases_table(c: Comparison) -> str:
    head = (
        "<tr><th>case</th><th>baseline</th><th>candidate</th><th>tokens b / c</th>"
        "<th>latency ms b / c</th><th>differences</th></tr>"
    )
    return f'<table class="cases">{head}{"".join(_case_row(r) for r in c.cases)}</table>'


def _case_row(r: CaseRow) -> str:
    diffs = "".join(
        f"<li>{escape(d.path)}: {escape(_show(d.baseline))} → {escape(_show(d.candidate))}</li>"
        for d in r.diffs
    )
    tokens = f"{_tokens(r.baseline)} / {_tokens(r.candidate)}"
    latency = f"{num(r.baseline.latency_ms, 0)} / {num(r.candidate.latency_ms, 0)}"
    return (
        f'<tr class="case{" changed" if r.changed else ""}" data-case="{escape(r.case_id)}">'
        f"<td>{escape(r.case_id)}</td><td>{_side(r.baseline)}</td><td>{_side(r.candidate)}</td>"
        f'<td class="n">{tokens}</td><td class="n">{latency}</td>'
        f"<td>{f'<ul class=diff>{diffs}</ul>' if diffs else 'same'}</td></tr>"
    )


def _side(s: SideCase) -> str:
    score = f" · score {num(s.score)}" if s.score is not None else ""
    judge = ", ".join(f"{k} {v:.2f}" for k, v in sorted(s.judge.items())) or DASH
    why = escape("; ".join(s.reasons) or s.error_type or "")
    return (
        f'<span class="state {escape(s.state)}">{escape(s.state)}</span>{score}'
        f"<br><small>judge: {escape(judge)}</small>" + (f"<br><small>{why}</small>" if why else "")
    )


def _tokens(s: SideCase) -> str:
    return str(s.input_tokens + s.output_tokens)


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 160 else text[:159] + "…"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _config(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if v not in (None, {}, "")) or DASH
