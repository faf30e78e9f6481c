"""report.html: one self-contained page (inline SVG plots made with matplotlib, inline CSS, no script and
no external resource), from the report dict of pipeline/report.py and the optional timings.

Every plot is a `<figure class="plot" data-plot="<name>">` holding an inline `<svg>`, so a browser test can
count them. The SVGs are deterministic (fixed hash salt, no date), so the page changes only with the
numbers; the timings section, when timings are given, is the only part that differs between reruns.

Plots are the page's cost (matplotlib: about 3 s of the 100 MB benchmark run's report), and each is a pure
function of a few report fields, so they can be drawn apart from the page: `plot_calls` lists the plots a
page needs, `render_plots` draws some of them (on another core, pipeline/sidework.py), and `render_html`
takes what was drawn (`plots`, keyed by `plot_key`) and draws the rest itself. The page is the same either
way.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter, StrMethodFormatter

_RC = {"svg.hashsalt": "multiphase-curation", "svg.fonttype": "none", "font.size": 8, "axes.titlesize": 9,
       "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 72}
_COLORS = ("#3366aa", "#dd7722", "#339944", "#bb3333", "#8866bb", "#886644", "#cc66aa", "#777777", "#aaaa33",
           "#33aaaa")
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:1em 2em;
color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{font-size:1em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.85em}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
figure.plot{margin:.5em 0}figure.plot svg{max-width:100%;height:auto}
nav a{margin-right:.8em}.ok{color:#2a7a2a;font-weight:bold}.bad{color:#b22;font-weight:bold}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.8em;max-height:40em}
td.text{max-width:40em;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.9em}
div.clip{max-height:7.5em;overflow:auto}
"""
SECTIONS = (("summary", "Summary"), ("funnel", "Funnel"), ("drops", "Drops"), ("histograms", "Histograms"),
            ("dedup", "Near-duplicates"), ("phases", "Phases"), ("tokenizer", "Tokenizer"),
            ("timings", "Timings"), ("config", "Config"))


PlotCall = tuple[Callable[..., str], tuple[Any, ...]]
# None: draw every plot; a list: record the calls instead of drawing; a mapping: plots drawn already
_PLOTS: ContextVar[list[PlotCall] | Mapping[str, str] | None] = ContextVar("plots", default=None)


def plot_key(fn: Callable[..., str], args: tuple[Any, ...]) -> str:
    """Names a plot by its function and arguments (JSON-like report fields)."""
    digest = hashlib.sha256(json.dumps(args, sort_keys=True, default=repr).encode()).hexdigest()
    return f"{fn.__name__}:{digest}"


def _plot(fn: Callable[..., str], *args: Any) -> str:
    mode = _PLOTS.get()
    if mode is None:
        return fn(*args)
    if isinstance(mode, list):
        mode.append((fn, args))
        return ""
    drawn = mode.get(plot_key(fn, args))
    return fn(*args) if drawn is None else drawn


def render_plots(calls: Sequence[PlotCall]) -> dict[str, str]:
    """Draws each plot call: {plot_key: html}."""
    return {plot_key(fn, args): fn(*args) for fn, args in calls}


def histogram_calls(hists: Mapping[str, Any]) -> list[PlotCall]:
    """The plot calls of the histograms section: they need curated/ and rejected/ only
    (`report_stats.histograms`)."""
    return [(_histogram_plots, (hists,))]


def _svg(fig: Figure, name: str, caption: str = "") -> str:
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})  # constrained layout fits; "tight" would draw twice
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot" data-plot="{html.escape(name)}">{text}{cap}</figure>'


def _figure(width: float, height: float, grid_rows: int = 0) -> Figure:
    """Constrained layout fits long tick labels; a grid of small histograms (`grid_rows` > 0) gets fixed
    margins instead, which draws about 3x faster and suits its short labels."""
    with matplotlib.rc_context(_RC):
        if not grid_rows:
            return Figure(figsize=(width, height), layout="constrained")
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.45 / height, top=1 - 0.3 / height,
                            wspace=0.25, hspace=0.75 / (height / grid_rows - 0.75))
        return fig


def _fmt(n: Any) -> str:
    if isinstance(n, float):
        return f"{n:,.4g}"
    if isinstance(n, int):
        return f"{n:,}"
    return "" if n is None else str(n)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], text_col: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(row):
            cls = ' class="n"' if isinstance(c, (int, float)) and not isinstance(c, bool) else (
                ' class="text"' if i == text_col else "")
            content = html.escape(_fmt(c))
            if i == text_col:
                content = f'<div class="clip">{content}</div>'
            cells.append(f"<td{cls}>{content}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


# ---------------------------------------------------------------- plots

def _funnel_plots(funnel: Mapping[str, Any]) -> str:
    steps = funnel["steps"]
    fig = _figure(10, 0.35 * len(steps) + 1.2)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, what in zip(axes, ("docs", "chars", "tokens"), strict=True):
        values = [row[what] for row in funnel["overall"]]
        ax.barh(range(len(steps)), values, color=_COLORS[0])
        ax.set_title({"docs": "documents", "chars": "characters", "tokens": "tokens"}[what])
        ax.invert_yaxis()
        ax.set_xlim(0, max(values + [1]) * 1.3)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:,}", va="center", fontsize=7)
    axes[0].set_yticks(range(len(steps)), steps)
    out = _svg(fig, "funnel", f"Left after each stage (tokens: {funnel['tokens']}).")
    for kind, title in (("by_source", "source"), ("by_lang", "language")):
        groups = funnel.get(kind) or {}
        if not groups:
            continue
        ranked = sorted(groups, key=lambda g: -groups[g][0]["docs"])
        shown = ranked[:10]
        fig = _figure(10, 3.2)
        axes = fig.subplots(1, 2)
        for ax, what in zip(axes, ("docs", "tokens"), strict=True):
            for i, name in enumerate(shown):
                ax.plot(range(len(steps)), [row[what] for row in groups[name]], marker="o", ms=3,
                        color=_COLORS[i % len(_COLORS)], label=name)
            ax.set_xticks(range(len(steps)), steps, rotation=35, ha="right")
            ax.set_title(f"{'documents' if what == 'docs' else 'tokens'} by {title}")
            ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=7)
        hidden = len(ranked) - len(shown)
        more = f" ({hidden} smaller groups not drawn; all are in the table)" if hidden else ""
        out += _svg(fig, f"funnel_{kind}", f"Left after each stage, by {title}{more}.")
    return out


def _drop_totals(report: Mapping[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for per in report["sources"].values():
        for reason, n in per["dropped"].items():
            totals[reason] = totals.get(reason, 0) + n
    return totals


def _drops_plot(totals: Mapping[str, int], order: Sequence[str]) -> str:
    if not totals:
        return "<p>Nothing was dropped.</p>"
    rank = {s: i for i, s in enumerate(order)}
    keys = sorted(totals, key=lambda k: (rank.get(k.split(":", 1)[0], len(rank)), -totals[k], k))
    fig = _figure(8, 0.28 * len(keys) + 1)
    ax = fig.subplots()
    stages = sorted({k.split(":", 1)[0] for k in keys}, key=lambda s: rank.get(s, len(rank)))
    colors = [_COLORS[stages.index(k.split(":", 1)[0]) % len(_COLORS)] for k in keys]
    ax.barh(range(len(keys)), [totals[k] for k in keys], color=colors)
    ax.set_xlim(0, max(totals.values()) * 1.15)
    ax.set_yticks(range(len(keys)), keys)
    ax.invert_yaxis()
    for i, k in enumerate(keys):
        ax.text(totals[k], i, f" {totals[k]:,}", va="center", fontsize=7)
    ax.set_xlabel("documents")
    return _svg(fig, "drops", "Documents dropped per stage:reason (all sources), in pipeline order.")


def _hist_axes(ax: Any, name: str, hist: Mapping[str, Any]) -> None:
    edges = hist["edges"]
    for i, (series, counts) in enumerate(sorted(hist["series"].items())):
        ax.stairs(counts, edges, color=_COLORS[i % len(_COLORS)], label=f"{series} ({sum(counts):,})",
                  linewidth=1.2)
    if hist["scale"] != "linear":
        base = 10 if hist["scale"] == "log10" else 2
        ax.set_xscale("log", base=base)
        # plain tick labels: the default log formatter typesets every label with mathtext (slow)
        if base == 2:
            ax.xaxis.set_major_locator(LogLocator(base=16))
        ax.xaxis.set_major_formatter(EngFormatter(sep="") if base == 10 else StrMethodFormatter("{x:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(name)
    ax.legend(fontsize=6)


def _histogram_plots(hists: Mapping[str, Any]) -> str:
    main = [n for n in ("lang_score", "quality_score", "chars", "cluster_size") if n in hists]
    out = ""
    if main:
        fig = _figure(10, 2.6 * math.ceil(len(main) / 2), grid_rows=math.ceil(len(main) / 2))
        axes = fig.subplots(math.ceil(len(main) / 2), 2, squeeze=False).ravel()
        for ax, name in zip(axes, main, strict=False):
            _hist_axes(ax, {"chars": "document length (characters)", "cluster_size": "duplicate cluster size"}
                       .get(name, name), hists[name])
        for ax in axes[len(main):]:
            ax.set_visible(False)
        out += _svg(fig, "histograms", "Kept documents against those the measuring stage dropped.")
    rules = sorted(n for n in hists if n.startswith("rules."))
    if rules:
        cols = 4
        fig = _figure(10, 2.1 * math.ceil(len(rules) / cols), grid_rows=math.ceil(len(rules) / cols))
        axes = fig.subplots(math.ceil(len(rules) / cols), cols, squeeze=False).ravel()
        for ax, name in zip(axes, rules, strict=False):
            _hist_axes(ax, name.split(".", 1)[1], hists[name])
        for ax in axes[len(rules):]:
            ax.set_visible(False)
        out += _svg(fig, "rule_measurements", "Rule measurements: kept documents against those the rules dropped.")
    return out


def _dedup_plots(nd: Mapping[str, Any]) -> str:
    b, r, t = nd["bands"], nd["rows"], nd["threshold"]
    fig = _figure(9, 3)
    ax1, ax2 = fig.subplots(1, 2)
    xs = [i / 200 for i in range(201)]
    ax1.plot(xs, [1 - (1 - x ** r) ** b for x in xs], color=_COLORS[0])
    ax1.axvline(t, color=_COLORS[3], linestyle="--", label=f"threshold {t}")
    ax1.set_xlabel("Jaccard similarity")
    ax1.set_ylabel("P(candidate pair)")
    ax1.set_title(f"MinHash LSH S-curve: {b} bands x {r} rows ({nd['num_perm']} permutations)")
    ax1.legend(fontsize=7)
    members = [m for c in nd.get("audit") or [] for m in c.get("sampled_members", [])
               if m.get("exact_jaccard") is not None and m.get("estimated_jaccard") is not None]
    if members:
        ax2.scatter([m["exact_jaccard"] for m in members], [m["estimated_jaccard"] for m in members], s=12,
                    color=[_COLORS[3] if m.get("below_threshold") else _COLORS[0] for m in members])
        ax2.axvline(t, color=_COLORS[3], linestyle="--")
        ax2.axhline(t, color=_COLORS[3], linestyle=":")
        ax2.plot([0, 1], [0, 1], color="#999", linewidth=0.8)
        ax2.set_xlabel("exact Jaccard with the survivor")
        ax2.set_ylabel("MinHash estimate")
        ax2.set_title(f"cluster audit sample: {len(members)} removed members")
    else:
        ax2.set_visible(False)
    return _svg(fig, "dedup", "Left: probability that a pair becomes a candidate. Right: sampled removed "
                "members (red: below the threshold, joined through a chain).")


def _phase_plot(name: str, phase: Mapping[str, Any]) -> str:
    buckets = phase.get("buckets") or {}
    shards = phase.get("shards") or []
    fig = _figure(10, 3)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    names = list(buckets)
    x = range(len(names))
    ax1.bar([i - 0.2 for i in x], [buckets[n]["target"] for n in names], width=0.4, label="target", color=_COLORS[7])
    ax1.bar([i + 0.2 for i in x], [buckets[n]["realized"] for n in names], width=0.4, label="realized",
            color=_COLORS[0])
    ax1.set_xticks(list(x), names, rotation=35, ha="right")
    ax1.set_title("tokens per bucket")
    ax1.legend(fontsize=7)
    ax2.bar(list(x), [buckets[n]["epochs"] for n in names], color=_COLORS[2])
    ax2.set_xticks(list(x), names, rotation=35, ha="right")
    ax2.set_title("epochs per bucket")
    ax2.set_ylim(0, max([1] + [buckets[n]["max_epochs"] for n in names]) + 0.5)
    ax3.bar(range(len(shards)), [(s["bytes"] or 0) / 1e6 for s in shards],
            color=[_COLORS[0] if s["split"] == "train" else _COLORS[1] for s in shards])
    ax3.set_title(f"{len(shards)} shards (MB; orange: validation)")
    ax3.set_xticks([])
    return _svg(fig, f"phase:{name}", f"Phase {name}: target vs realized tokens, epochs, shard sizes.")


def _fertility_plot(fertility: Mapping[str, Any]) -> str:
    by_lang = fertility.get("by_lang") or {}
    if not by_lang:
        return ""
    langs = sorted(by_lang)
    fig = _figure(8, 2.6)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.bar(langs, [by_lang[lang].get("tokens_per_char") or 0 for lang in langs], color=_COLORS[0])
    ax1.set_title("tokens per character")
    ax2.bar(langs, [by_lang[lang].get("tokens_per_word") or 0 for lang in langs], color=_COLORS[1])
    ax2.set_title("tokens per word")
    return _svg(fig, "fertility", "Tokenizer fertility per language, on held-out curated text.")


def _timings_plot(timings: Mapping[str, Any]) -> str:
    launcher = {k: v for k, v in (timings.get("seconds") or {}).items() if k != "report"}  # not done yet when drawn
    steps = timings.get("beam_steps") or {}
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:15]
    fig = _figure(10, 0.3 * max(len(launcher), len(top)) + 1.2)
    ax1, ax2 = fig.subplots(1, 2)
    order = ("quality_training", "curation", "tokenizer", "mixing", "report")
    names = sorted(launcher, key=lambda n: (order.index(n) if n in order else len(order), n))
    ax1.barh(range(len(names)), [launcher[n] for n in names], color=_COLORS[0])
    ax1.set_yticks(range(len(names)), names)
    ax1.invert_yaxis()
    ax1.set_xlabel("seconds (wall)")
    ax1.set_title("run steps")
    if top:
        ax2.barh(range(len(top)), [v / 1000 for _, v in top], color=_COLORS[1])
        ax2.set_yticks(range(len(top)), [k for k, _ in top])
        ax2.invert_yaxis()
        ax2.set_xlabel("seconds (Beam's execution time)")
        ax2.set_title("Beam steps (top 15)")
    else:
        ax2.set_visible(False)
    return _svg(fig, "timings", "Wall time of each step of the run, and Beam's measured execution time per step.")


# ---------------------------------------------------------------- page

def _summary(report: Mapping[str, Any]) -> str:
    t = report["totals"]
    status = '<span class="ok">reconciled</span>' if report["reconciled"] else (
        '<span class="bad">NOT reconciled: ' + html.escape("; ".join(report["problems"])) + "</span>")
    rows = [[s, v["read"], v["kept"], v["dead_letters"], v["read"] - v["kept"] - v["dead_letters"], v["kept_chars"],
             "yes" if v["reconciled"] else "NO"] for s, v in report["sources"].items()]
    phases = [[p, v["tokens"], v["rows"], len(v.get("shards", []))] for p, v in report["phases"].items()]
    return (f"<p>{t['read']:,} records read, {t['kept']:,} kept, {t['dead_letters']:,} dead letters: {status}. "
            f"Mode: {html.escape(report['mode'])}. Config hash {html.escape(report.get('config_hash', ''))}.</p>"
            + _table(["source", "read", "kept", "dead letters", "dropped", "kept characters", "reconciled"], rows)
            + _table(["phase", "tokens", "rows", "shards"], phases))


def _funnel_table(funnel: Mapping[str, Any]) -> str:
    rows = [[step, row["docs"], row["chars"], row["tokens"]] for step, row in zip(
        funnel["steps"], funnel["overall"], strict=True)]
    out = _table(["step", "documents", "characters", "tokens"], rows)
    for kind, label in (("by_source", "source"), ("by_lang", "language")):
        groups = funnel.get(kind) or {}
        body = [[name] + [f"{r['docs']:,} / {r['tokens']:,}" for r in per] for name, per in sorted(groups.items())]
        out += f"<h3>Documents / tokens left, by {label}</h3>" + _table([label, *funnel["steps"]], body)
    return out


def _drops_tables(report: Mapping[str, Any], order: Sequence[str]) -> str:
    sources = list(report["sources"])
    reasons = sorted({r for v in report["sources"].values() for r in v["dropped"]},
                     key=lambda k: (order.index(k.split(":", 1)[0]) if k.split(":", 1)[0] in order else len(order), k))
    rows = [[reason, *[report["sources"][s]["dropped"].get(reason, 0) for s in sources],
             sum(report["sources"][s]["dropped"].get(reason, 0) for s in sources)] for reason in reasons]
    out = _table(["stage:reason", *sources, "all"], rows)
    examples = report.get("drop_examples") or {}
    if examples:
        ex_rows = [[reason, e["id"], e["location"], e["text"]] for reason, items in examples.items() for e in items]
        out += "<h3>Examples per reason (seeded sample)</h3>" + _table(
            ["stage:reason", "id", "location", "text (start)"], ex_rows, text_col=3)
    if report.get("decontamination"):
        dec = [[b, v["dropped"], v["cleaned"]] for b, v in report["decontamination"].items()]
        out += "<h3>Decontamination</h3>" + _table(["benchmark", "documents dropped", "documents cleaned"], dec)
    return out


def _dedup_section(report: Mapping[str, Any]) -> str:
    nd = report.get("near_dedup")
    if not nd:
        return "<p>Near-duplicate removal is off.</p>"
    out = _plot(_dedup_plots, nd)
    probs = [[j, p] for j, p in nd["candidate_probability"].items()]
    out += _table(["Jaccard", "P(candidate)"], probs)
    audit = nd.get("audit") or []
    rows = [[c["cluster_id"], c["cluster_size"], c["survivor"], m["id"], m.get("exact_jaccard"),
             m.get("estimated_jaccard")] for c in audit for m in c.get("sampled_members", [])]
    if rows:
        out += "<h3>Cluster audit sample</h3>" + _table(
            ["cluster", "size", "survivor", "removed member", "exact Jaccard", "estimate"], rows)
    return out


def _phases_section(report: Mapping[str, Any]) -> str:
    out = ""
    for name, phase in report["phases"].items():
        out += f"<h3>{html.escape(name)}</h3>" + _plot(_phase_plot, name, phase)
        rows = [[b, v["target"], v["realized"], v["available"], v["epochs"], v["max_epochs"]]
                for b, v in (phase.get("buckets") or {}).items()]
        out += _table(["bucket", "target tokens", "realized", "available", "epochs", "max epochs"], rows)
        shards = [[s["file"], s["rows"], s["tokens"], s["bytes"]] for s in phase.get("shards") or []]
        out += _table(["shard", "rows", "tokens", "bytes"], shards)
    return out


def _tokenizer_section(report: Mapping[str, Any]) -> str:
    tok = report.get("tokenizer") or {}
    fertility = tok.get("fertility") or {}
    out = _plot(_fertility_plot, fertility)
    rows = [[f"{kind} {name}", v.get("docs"), v.get("tokens_per_char"), v.get("tokens_per_word")]
            for kind, key in (("lang", "by_lang"), ("source", "by_source"))
            for name, v in sorted((fertility.get(key) or {}).items())]
    if rows:
        out += _table(["", "documents", "tokens per character", "tokens per word"], rows)
    model = tok.get("model") or {}
    if model:
        out += f"<p>Origin: {html.escape(str(tok.get('origin')))}; vocabulary {_fmt(model.get('vocab_size'))}; " \
               f"sha256 {html.escape(str(model.get('sha256')))}.</p>"
    if report.get("quality_model"):
        m = report["quality_model"].get("holdout_metrics", {})
        out += "<h3>Quality classifier (trained by the run)</h3>" + _table(
            ["held-out precision", "recall", "F1"], [[m.get("precision"), m.get("recall"), m.get("f1")]])
    return out


def plot_calls(report: Mapping[str, Any], timings: Mapping[str, Any] | None = None) -> list[PlotCall]:
    """The plots `render_html(report, timings)` draws, as calls for `render_plots` (nothing is drawn)."""
    calls: list[PlotCall] = []
    token = _PLOTS.set(calls)
    try:
        _page(report, timings)
    finally:
        _PLOTS.reset(token)
    return calls


def render_html(report: Mapping[str, Any], timings: Mapping[str, Any] | None = None,
                plots: Mapping[str, str] | None = None) -> str:
    """The page. `plots`: plots drawn already (`render_plots`); the others are drawn here."""
    token = _PLOTS.set(plots or None)
    try:
        return _page(report, timings)
    finally:
        _PLOTS.reset(token)


def _page(report: Mapping[str, Any], timings: Mapping[str, Any] | None) -> str:
    order = [s.removeprefix("after ") for s in (report.get("funnel") or {}).get("steps", [])[1:]]
    parts = {
        "summary": _summary(report),
        "funnel": (_plot(_funnel_plots, report["funnel"]) + _funnel_table(report["funnel"])) if report.get("funnel")
        else "<p>No funnel in this report.</p>",
        "drops": _plot(_drops_plot, _drop_totals(report), order) + _drops_tables(report, order),
        "histograms": _plot(_histogram_plots, report.get("histograms") or {}) or "<p>No measurements.</p>",
        "dedup": _dedup_section(report),
        "phases": _phases_section(report),
        "tokenizer": _tokenizer_section(report),
        "timings": (_plot(_timings_plot, timings) if timings else "<p>No timings recorded (report/timings.json).</p>"),
        "config": ("<p>Config hash " + html.escape(str(report.get("config_hash", ""))) + "; per-stage hashes: "
                   + html.escape(json.dumps(report.get("stage_config_hashes", {}), sort_keys=True)) + "</p><pre>"
                   + html.escape(json.dumps(report.get("config", {}), indent=1, sort_keys=True)) + "</pre>"),
    }
    nav = "".join(f'<a href="#{k}">{t}</a>' for k, t in SECTIONS)
    body = "".join(f'<section id="{k}"><h2>{t}</h2>{parts[k]}</section>' for k, t in SECTIONS)
    name = html.escape(str(((report.get("config") or {}).get("run") or {}).get("name", "")))
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>curation report {name}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Curation report {name} ({html.escape(report['mode'])} mode)</h1><nav>{nav}</nav>{body}"
            "</body></html>\n")
