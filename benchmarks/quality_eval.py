"""Rule filters on real text: keep rates of clean text, drop rates of boilerplate (issue 5).

Each document goes through `normalize_text` and `transforms.rules.evaluate` with the default config
(`RulesConfig()`), exactly what the pipeline's Normalize and FilterRules stages compute; the language is
the set's gold language (the pipeline takes it from language ID).
- English Wikipedia: the ~60 articles of WikiText-2 (test split), split at top-level headings (the
  reader of scripts/build_corpus.py) and de-tokenized: WikiText spaces out punctuation (" , ", " @-@ ",
  " = = Heading = = "); `detokenize_wikitext` restores the article's running text, since the rules judge
  text, not a tokenization artefact. Default rule sets.
- Chinese Wikipedia: the 1,104 CMRC 2018 passages. Default rule sets, lang zh.
- Code: the 984 HumanEval-X prompt + canonical solution files (6 languages) through `code_v1` (code
  sources use the code rules instead of the prose ones, `rules.by_source`).
- Boilerplate, from web-html-trafilatura-eval: (a) per page, the evaluation's "should drop" snippets
  (menus, bylines, cookie notices), one per line: a boilerplate-only document; (b) per page, the text of
  its navigation markup (<nav>, <header>, <footer>, <aside>, and elements whose id/class names a menu,
  nav, footer, sidebar, breadcrumb, cookie or share box), one line per link/text node. Default rule
  sets, lang = the page's <html lang> (de, en, es, fr, ...). Documents without any word are left out
  (nothing to judge).
Acceptance (issue): >= 95% of Chinese and English Wikipedia kept, >= 95% of HumanEval-X kept by the code
rules, >= 90% of boilerplate-only documents dropped.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

import _common as C

NAME = "quality_eval"
KEEP_MIN, DROP_MIN = 0.95, 0.90
QUICK_PAGES = 200
_NAV_TAGS = ("nav", "header", "footer", "aside")
_NAV_WORDS = re.compile(r"menu|nav|footer|sidebar|breadcrumb|cookie|share|social", re.IGNORECASE)


def detokenize_wikitext(text: str) -> str:
    """WikiText's tokenized layout back to running text: " @-@ " -> "-", no space before closing
    punctuation or after opening brackets, " 's" -> "'s", " = = Heading = = " -> "Heading"."""
    text = re.sub(r" @(.)@ ", r"\1", text)
    text = re.sub(r" ([,.;:!?)\]}])", r"\1", text)
    text = re.sub(r"([(\[{]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    text = re.sub(r"^ ?(=+) (.*?) (=+) *$", r"\2", text, flags=re.MULTILINE)
    return re.sub(r"^ ", "", text, flags=re.MULTILINE)


def navigation_text(html: bytes) -> str:
    """The text of a page's navigation markup, one line per text node."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return ""
    lines: list[str] = []
    seen: set[int] = set()
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        names = f"{el.get('id', '')} {el.get('class', '')}"
        if el.tag not in _NAV_TAGS and not _NAV_WORDS.search(names):
            continue
        if any(id(a) in seen for a in el.iterancestors()):
            continue  # inside a region already taken
        seen.add(id(el))
        for node in el.itertext():
            line = " ".join(node.split())
            if line:
                lines.append(line)
    return "\n".join(lines)


def _has_word(text: str) -> bool:
    return re.search(r"\w", text) is not None


def score(name: str, docs: list[tuple[str, str | None]], rule_sets, cfg, want: str) -> dict:
    from transforms.normalize import normalize_text
    from transforms.rules import evaluate

    reasons: Counter[str] = Counter()
    examples: dict[str, str] = {}
    t0 = time.perf_counter()
    for text, lang in docs:
        result = evaluate(normalize_text(text), lang, rule_sets, cfg)
        reason = result.reason or "kept"
        reasons[reason] += 1
        examples.setdefault(reason, " ".join(text.split())[:160])
    seconds = time.perf_counter() - t0
    n = len(docs)
    rate = (reasons["kept"] if want == "keep" else n - reasons["kept"]) / n if n else None
    target = KEEP_MIN if want == "keep" else DROP_MIN
    return {"set": name, "docs": n, "want": want, "rate": rate, "target": target,
            "pass": rate is not None and rate >= target, "reasons": dict(reasons.most_common()),
            "examples": examples, "docs_per_s": n / seconds if seconds else None}


def run(quick: bool = False) -> dict | None:
    root = C.require_shared_data("en-wiki-wikitext2-test", "zh-hans-wiki-cmrc2018", "code-humaneval-x",
                                 "web-html-trafilatura-eval")
    if root is None:
        return None
    from transforms.rules import RulesConfig

    started = time.perf_counter()
    bc = C.build_corpus_module()
    cfg = RulesConfig()
    wiki_en = [(detokenize_wikitext(d["text"]), "en") for d in bc.read_wikitext(root)]
    wiki_zh = [(d["text"], "zh") for d in bc.read_cmrc(root)]
    code = [(d["text"], None) for d in bc.read_code(root)]
    pages = C.trafilatura_pages(root, C.RESULTS_DIR / "trafilatura-html")
    if quick:
        pages = C.subsample(pages, QUICK_PAGES)
    snippets, navs = [], []
    for page in pages:
        lang = page.get("html_lang") or None
        text = "\n".join(page["without"])
        if _has_word(text):
            snippets.append((text, lang))
        nav = navigation_text(Path(page["path"]).read_bytes())
        if _has_word(nav):
            navs.append((nav, lang))
    sets = [
        score("English Wikipedia (WikiText-2 articles)", wiki_en, cfg.default, cfg, "keep"),
        score("Chinese Wikipedia (CMRC 2018 passages)", wiki_zh, cfg.default, cfg, "keep"),
        score("HumanEval-X (code_v1)", code, ("code_v1",), cfg, "keep"),
        score("boilerplate: trafilatura should-drop snippets per page", snippets, cfg.default, cfg, "drop"),
        score("boilerplate: navigation markup text per page", navs, cfg.default, cfg, "drop"),
    ]
    for s in sets:
        print(f"{s['set']}: {s['docs']} docs, {s['want']} {C.pct(s['rate'])} "
              f"{'PASS' if s['pass'] else 'FAIL'}", flush=True)
    return {"name": NAME, "quick": quick, "machine": C.machine(), "seconds": round(time.perf_counter() - started, 1),
            "pages": len(pages), "default_rule_sets": list(cfg.default), "sets": sets,
            "acceptance": {"criterion": "keep >= 95% of English and Chinese Wikipedia and of HumanEval-X (code "
                                        "rules); drop >= 90% of boilerplate-only documents",
                           "pass": all(s["pass"] for s in sets)}}


def render(res: dict) -> list[str]:
    q = " --quick" if res.get("quick") else ""
    lines = ["### Rule filters: clean text kept, boilerplate dropped", "",
             f"`normalize_text` + `transforms.rules.evaluate` with the default config (rule sets "
             f"{', '.join(res['default_rule_sets'])}; code through `code_v1`), gold language per set; "
             f"boilerplate from {res['pages']} trafilatura-eval pages. Command: "
             f"`python benchmarks/quality_eval.py{q}`.", ""]
    rows = []
    for s in res["sets"]:
        top = ", ".join(f"{k} {v}" for k, v in s["reasons"].items() if k != "kept")
        rows.append([s["set"], s["docs"], f"{s['want']} >= {C.pct(s['target'])}", f"**{C.pct(s['rate'])}**",
                     "PASS" if s["pass"] else "FAIL", top or "-", f"{s['docs_per_s']:.0f}"])
    lines += C.md_table(["documents", "n", "target", "rate", "", "drop reasons", "docs/s"], rows)
    lines += ["", "Kept boilerplate, examples (first 160 characters): "
              + "; ".join(f"{s['set'].split(': ')[-1]}: \"{s['examples'].get('kept', '-')}\""
                          for s in res["sets"] if s["want"] == "drop") + ".", "",
              f"Acceptance: **{'PASS' if res['acceptance']['pass'] else 'FAIL'}**."]
    return lines


def main() -> int:
    return C.cli(NAME, __doc__, lambda args: run(args.quick), render)


if __name__ == "__main__":
    sys.exit(main())
