"""Simplified vs Traditional Chinese: accuracy of `transforms.scripts.chinese_variant` and of
`identify_batch(...).script` on zh-script-variant-pairs-ud-gsd (the same 1,000 Chinese Wikipedia sentences
in Traditional and in Simplified script; both sides are scored, gold Hant / Hans). Target >= 0.98.

Secondary set: Tatoeba cmn_Hans / cmn_Hant sentences (script suffix detected automatically by the
Tatoeba Challenge, so noisy; short sentences are often written with characters common to both scripts).
Where OpenCC is importable, inputs that are unchanged by both t2s and s2t conversion are counted as
script-neutral (no character tells the variants apart) and accuracy is also given without them.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import _common as C

NAME = "script_accuracy"
BATCH = 64
QUICK_PAIRS = 300
QUICK_TATOEBA = 2_000


def _neutral_fn():
    try:
        import opencc
    except ImportError:
        return None
    t2s, s2t = opencc.OpenCC("t2s"), opencc.OpenCC("s2t")
    return lambda text: t2s.convert(text) == text and s2t.convert(text) == text


def score(items: list[tuple[str, str, str]], variant_fn, langid, model, cfg, neutral) -> dict:
    """items: (id, text, gold Hans/Hant)."""
    texts = [t for _, t, _ in items]
    t0 = time.perf_counter()
    variants = [variant_fn(t) for t in texts]
    t_variant = time.perf_counter() - t0
    results = []
    for i in range(0, len(texts), BATCH):
        results.extend(langid.identify_batch(model, texts[i:i + BATCH], cfg))
    flags = [neutral(t) if neutral else False for t in texts]
    by_gold: dict[str, Counter] = {}
    errors = []
    for (sid, text, gold), v, r, neu in zip(items, variants, results, flags, strict=True):
        c = by_gold.setdefault(gold, Counter())
        c["n"] += 1
        c["variant_ok"] += v == gold
        c["script_ok"] += r.script == gold
        c["lang_zh"] += C.canon(r.lang) == "zh"
        c["neutral"] += neu
        if not neu:
            c["n_distinct"] += 1
            c["variant_ok_distinct"] += v == gold
            c["script_ok_distinct"] += r.script == gold
        if v != gold or r.script != gold:
            errors.append({"id": sid, "gold": gold, "chinese_variant": v, "script": r.script, "lang": r.lang,
                           "neutral": neu, "text": text[:80]})
    tot = Counter()
    for c in by_gold.values():
        tot.update(c)

    def ratio(a: str, b: str, c: Counter = tot) -> float | None:
        return c[a] / c[b] if c[b] else None

    return {"n": tot["n"], "variant_acc": ratio("variant_ok", "n"), "script_acc": ratio("script_ok", "n"),
            "lang_zh": ratio("lang_zh", "n"), "neutral": tot["neutral"] if neutral else None,
            "variant_acc_distinct": ratio("variant_ok_distinct", "n_distinct") if neutral else None,
            "script_acc_distinct": ratio("script_ok_distinct", "n_distinct") if neutral else None,
            "by_gold": {g: {"n": c["n"], "variant_acc": ratio("variant_ok", "n", c),
                            "script_acc": ratio("script_ok", "n", c), "lang_zh": ratio("lang_zh", "n", c),
                            "neutral": c["neutral"]} for g, c in sorted(by_gold.items())},
            "variant_s": round(t_variant, 3), "errors": errors[:40], "errors_total": len(errors),
            "variant_values": dict(Counter(str(v) for v in variants)),
            "script_values": dict(Counter(str(r.script) for r in results))}


def run(quick: bool = False) -> dict | None:
    root = C.require_shared_data("zh-script-variant-pairs-ud-gsd", "lid-tatoeba-v2021-08-07")
    if root is None:
        return None
    C.quiet_fasttext()
    from transforms import langid
    from transforms.scripts import chinese_variant

    path = C.lid_model_path()
    model = langid.load_model(path)
    cfg = langid.LangIdConfig(model=path, keep=None)
    neutral = _neutral_fn()
    started = time.perf_counter()

    pairs = C.load_zh_pairs(root)
    if quick:
        pairs = C.subsample(pairs, QUICK_PAIRS)
    identical = sum(1 for _, a, b in pairs if a == b)
    ud = [(sid, hant, "Hant") for sid, hant, _ in pairs] + [(sid, hans, "Hans") for sid, _, hans in pairs]
    tat = [(f"tatoeba-{i}", s.text, "Hans" if s.raw_label.endswith("_Hans") else "Hant")
           for i, s in enumerate(C.load_tatoeba(root)) if s.raw_label in ("cmn_Hans", "cmn_Hant")]
    if quick:
        tat = C.subsample(tat, QUICK_TATOEBA)
    sets = {"ud-gsd-pairs": score(ud, chinese_variant, langid, model, cfg, neutral),
            "tatoeba-cmn": score(tat, chinese_variant, langid, model, cfg, neutral)}
    for name, r in sets.items():
        print(f"{name}: n={r['n']} chinese_variant={C.pct(r['variant_acc'])} script={C.pct(r['script_acc'])} "
              f"lang=zh {C.pct(r['lang_zh'])}", flush=True)
    ud_r = sets["ud-gsd-pairs"]
    return {"name": NAME, "quick": quick, "machine": C.machine(), "pairs": len(pairs),
            "identical_pairs": identical, "opencc_neutral_check": neutral is not None,
            "seconds": round(time.perf_counter() - started, 1), "sets": sets,
            "acceptance": {"criterion": "chinese_variant and identify_batch().script >= 0.98 on ud-gsd-pairs",
                           "pass": (ud_r["variant_acc"] or 0) >= 0.98 and (ud_r["script_acc"] or 0) >= 0.98}}


def render(res: dict) -> list[str]:
    q = " --quick" if res.get("quick") else ""
    lines = ["### Simplified vs Traditional Chinese", "",
             "Share of inputs whose variant is right (gold Hant / Hans), for `chinese_variant(text)` and for "
             "`identify_batch(...).script`, plus the share that language ID labels zh; both sides of "
             f"{res['pairs']} UD Chinese GSD / GSDSimp sentence pairs ({res['identical_pairs']} pair identical in "
             "both scripts, so one of its two sides cannot be right), and Tatoeba cmn_Hans/cmn_Hant sentences "
             "(noisy automatic labels). 'Distinct' excludes script-neutral inputs (unchanged by OpenCC t2s and "
             f"s2t). Command: `python benchmarks/script_accuracy.py{q}`.", ""]
    rows = []
    for name, r in res["sets"].items():
        for gold, g in r["by_gold"].items():
            rows.append([name, gold, g["n"], C.pct(g["variant_acc"]), C.pct(g["script_acc"]), C.pct(g["lang_zh"]),
                         g["neutral"] if res["opencc_neutral_check"] else "n/a", "", ""])
        rows.append([f"**{name}**", "both", r["n"], C.pct(r["variant_acc"]), C.pct(r["script_acc"]),
                     C.pct(r["lang_zh"]), r["neutral"] if r["neutral"] is not None else "n/a",
                     C.pct(r["variant_acc_distinct"]), C.pct(r["script_acc_distinct"])])
    lines += C.md_table(["set", "gold", "inputs", "chinese_variant acc", "`.script` acc", "lang = zh",
                         "script-neutral", "chinese_variant acc (distinct)", "`.script` acc (distinct)"], rows)
    verdict = "PASS" if res["acceptance"]["pass"] else "FAIL"
    lines += ["", f"Target >= 98% on the UD pairs (both measures): **{verdict}**."]
    return lines


def _print_errors(res: dict) -> None:
    for name, r in res["sets"].items():
        if r["errors"]:
            print(f"\n{name}: {r['errors_total']} inputs with a wrong variant or script; first ones:")
            for e in r["errors"][:10]:
                print(f"  gold={e['gold']} chinese_variant={e['chinese_variant']} script={e['script']} "
                      f"lang={e['lang']} neutral={e['neutral']} {e['text']!r}")


def main() -> int:
    return C.cli(NAME, __doc__, lambda args: run(args.quick), render, details=_print_errors)


if __name__ == "__main__":
    sys.exit(main())
