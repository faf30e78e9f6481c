"""Language-ID accuracy: the stage (`transforms.langid.identify_batch`) vs fastText called directly
(`direct_predict`) on the same inputs.

Sets (all from ../shared/data):
- tatoeba-sentences: the 9 Tatoeba test files, one sentence per input. Gold = language part of the label
  mapped to the stage's codes (cmn_* -> zh, eng -> en, jpn -> ja, kor -> ko, ara -> ar, rus -> ru,
  fra -> fr, deu -> de, spa -> es). Cantonese (yue) and Wu (wuu) are scored separately, not in the main
  figure; other labels (Arabic dialects arq/arz/afb/..., lzh, cjy, gan, nan) are excluded.
- tatoeba-docs: 5 consecutive same-language sentences of one file joined with "\\n".
- udhr: one document per UDHR file (lid-udhr2), only languages whose code (ISO 639-3 standardized with
  langcodes, macrolanguage when the model has no label for the individual language) is a lid.176 label
  mapped with `normalize_label`.
Acceptance: stage >= direct at document level (tatoeba-docs and udhr).
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict

import _common as C

NAME = "lid_accuracy"
BATCH = 64
QUICK_SENTENCES = 12_000
QUICK_DOCS = 3_000
EXAMPLES = 8


def _load_api():
    from transforms import langid
    return langid


def predict_stage(langid, model, cfg, texts: list[str]) -> list:
    out = []
    for i in range(0, len(texts), BATCH):
        out.extend(langid.identify_batch(model, texts[i:i + BATCH], cfg))
    if len(out) != len(texts):
        raise AssertionError(f"identify_batch returned {len(out)} results for {len(texts)} texts")
    return out


def score_set(name: str, items: list, langid, model, cfg) -> dict:
    """items: objects with .text and .gold. Returns per-set and per-language accuracy plus examples."""
    texts = [it.text for it in items]
    t0 = time.perf_counter()
    stage = predict_stage(langid, model, cfg, texts)
    t_stage = time.perf_counter() - t0
    t0 = time.perf_counter()
    direct = [langid.direct_predict(model, t) for t in texts]
    t_direct = time.perf_counter() - t0
    per_lang: dict[str, Counter] = defaultdict(Counter)
    stage_pred: dict[str, Counter] = defaultdict(Counter)
    direct_pred: dict[str, Counter] = defaultdict(Counter)
    losses, wins = [], []
    mixed = 0
    for it, s, (d_lang, d_score) in zip(items, stage, direct, strict=True):
        gold = it.gold
        s_ok = C.canon(s.lang) == gold
        d_ok = C.canon(d_lang) == gold
        c = per_lang[gold]
        c["n"] += 1
        c["stage"] += s_ok
        c["direct"] += d_ok
        stage_pred[gold][C.canon(s.lang)] += 1
        direct_pred[gold][C.canon(d_lang)] += 1
        mixed += bool(getattr(s, "mixed", False))
        example = {"gold": gold, "label": getattr(it, "raw_label", getattr(it, "code", "")),
                   "text": it.text[:160], "stage": s.lang, "stage_score": round(float(s.score), 3),
                   "stage_script": getattr(s, "script", None), "mixed": bool(getattr(s, "mixed", False)),
                   "direct": d_lang, "direct_score": round(float(d_score), 3)}
        if d_ok and not s_ok:
            losses.append(example)
        elif s_ok and not d_ok:
            wins.append(example)
    n = len(items)
    stage_ok = sum(c["stage"] for c in per_lang.values())
    direct_ok = sum(c["direct"] for c in per_lang.values())
    loss_by_lang = Counter(e["gold"] for e in losses)
    # examples: spread over languages, most affected languages first
    picked = []
    for lang, _ in loss_by_lang.most_common():
        picked += [e for e in losses if e["gold"] == lang][:2]
    return {
        "set": name, "n": n, "languages": len(per_lang),
        "stage_acc": stage_ok / n if n else None, "direct_acc": direct_ok / n if n else None,
        "stage_only_right": len(wins), "direct_only_right": len(losses), "mixed": mixed,
        "stage_s": round(t_stage, 3), "direct_s": round(t_direct, 3),
        "per_lang": {lang: {"n": c["n"], "stage_acc": c["stage"] / c["n"], "direct_acc": c["direct"] / c["n"],
                            "stage_as_zh": stage_pred[lang]["zh"] / c["n"],
                            "direct_as_zh": direct_pred[lang]["zh"] / c["n"],
                            "stage_top_wrong": [(k, v) for k, v in stage_pred[lang].most_common() if k != lang][:3],
                            "direct_top_wrong": [(k, v) for k, v in direct_pred[lang].most_common() if k != lang][:3]}
                     for lang, c in sorted(per_lang.items())},
        "losses_by_lang": dict(loss_by_lang), "loss_examples": picked[:EXAMPLES * 2],
        "win_examples": wins[:EXAMPLES],
    }


def run(quick: bool = False) -> dict | None:
    root = C.require_shared_data("lid-tatoeba-v2021-08-07", "lid-udhr2")
    if root is None:
        return None
    C.quiet_fasttext()
    langid = _load_api()
    path = C.lid_model_path()
    model = langid.load_model(path)
    cfg = langid.LangIdConfig(model=path, keep=None)
    known = sorted({C.canon(langid.normalize_label(lab)[0]) for lab in model.get_labels()})
    started = time.perf_counter()

    sentences = C.load_tatoeba(root)
    excluded = Counter(s.raw_label for s in sentences if s.group == "excluded")
    docs = C.tatoeba_documents(sentences)
    main_s = [s for s in sentences if s.group == "main"]
    sep_s = [s for s in sentences if s.group == "separate"]
    main_d = [d for d in docs if d.group == "main"]
    sep_d = [d for d in docs if d.group == "separate"]
    if quick:
        main_s, main_d = C.subsample(main_s, QUICK_SENTENCES), C.subsample(main_d, QUICK_DOCS)
    udhr_all = C.load_udhr(root, set(known))
    udhr = [d for d in udhr_all if d.gold in known]
    udhr_excluded = sorted(d.code for d in udhr_all if d.gold not in known)

    sets = {}
    for name, items in [("tatoeba-sentences", main_s), ("tatoeba-docs", main_d),
                        ("tatoeba-yue-wuu-sentences", sep_s), ("tatoeba-yue-wuu-docs", sep_d), ("udhr", udhr)]:
        sets[name] = score_set(name, items, langid, model, cfg)
        r = sets[name]
        print(f"{name}: n={r['n']} stage={C.pct(r['stage_acc'])} direct={C.pct(r['direct_acc'])} "
              f"(stage-only right {r['stage_only_right']}, direct-only right {r['direct_only_right']})",
              flush=True)
    doc_sets = ["tatoeba-docs", "udhr"]
    accepted = all(sets[s]["stage_acc"] >= sets[s]["direct_acc"] for s in doc_sets)
    return {
        "name": NAME, "quick": quick, "machine": C.machine(), "model": path, "batch": BATCH,
        "seconds": round(time.perf_counter() - started, 1),
        "tatoeba_excluded_labels": dict(excluded.most_common()),
        "udhr_docs": len(udhr), "udhr_languages": len({d.gold for d in udhr}),
        "udhr_excluded_files": len(udhr_excluded), "udhr_included_codes": [d.code for d in udhr],
        "sets": sets, "acceptance": {"criterion": "stage >= direct on tatoeba-docs and udhr", "pass": accepted},
    }


def render(res: dict) -> list[str]:
    q = " --quick" if res.get("quick") else ""
    sets = res["sets"]
    lines = ["### Language ID accuracy: stage vs direct fastText", "",
             f"Accuracy of `identify_batch` (batches of {res['batch']}, `LangIdConfig(keep=None)`) and of "
             "`direct_predict` (fastText on the text with newlines replaced by spaces) against gold labels, "
             f"same inputs, lid.176.ftz. Command: `python benchmarks/lid_accuracy.py{q}`.", ""]
    rows = []
    for name in ["tatoeba-sentences", "tatoeba-docs", "udhr"]:
        r = sets[name]
        rows.append([name, r["n"], r["languages"], C.pct(r["stage_acc"]), C.pct(r["direct_acc"]),
                     r["stage_only_right"], r["direct_only_right"], r["mixed"]])
    lines += C.md_table(["set", "inputs", "languages", "stage acc", "direct acc", "only stage right",
                         "only direct right", "stage `mixed`"], rows)
    lines += ["", "Every input is meant to hold one language, so `mixed` counts are mostly false alarms."]
    verdict = "PASS" if res["acceptance"]["pass"] else "FAIL"
    lines += ["", f"Acceptance (stage >= direct on documents: tatoeba-docs, udhr): **{verdict}**. UDHR: "
              f"{res['udhr_docs']} documents in {res['udhr_languages']} languages that lid.176 knows "
              f"({res['udhr_excluded_files']} files of other languages excluded). Tatoeba docs = 5 consecutive "
              "same-language sentences joined with newlines.", ""]
    losses = [(name, e) for name in ["tatoeba-docs", "udhr"] for e in sets[name]["loss_examples"]]
    if losses:
        lines += ["Documents where only direct is right: " + "; ".join(
            f"{name} gold {e['gold']}{' (' + e['label'] + ')' if name == 'udhr' else ''}: stage {e['stage']} "
            f"({e['stage_score']:.2f}, mixed={e['mixed']}) vs direct {e['direct']} ({e['direct_score']:.2f})"
            for name, e in losses[:6]) + ".", ""]
    lines += ["Per language on Tatoeba (gold from the language part of the label; yue/wuu scored separately "
              f"below; excluded: {sum(res['tatoeba_excluded_labels'].values())} sentences of other labels such "
              f"as arq, arz, lzh). Command: `python benchmarks/lid_accuracy.py{q}`.", ""]
    s_pl, d_pl = sets["tatoeba-sentences"]["per_lang"], sets["tatoeba-docs"]["per_lang"]
    rows = []
    for lang in sorted(set(s_pl) | set(d_pl)):
        s, d = s_pl.get(lang), d_pl.get(lang)
        rows.append([lang, s["n"] if s else 0, C.pct(s["stage_acc"]) if s else "", C.pct(s["direct_acc"]) if s else "",
                     d["n"] if d else 0, C.pct(d["stage_acc"]) if d else "", C.pct(d["direct_acc"]) if d else ""])
    lines += C.md_table(["lang", "sentences", "stage acc", "direct acc", "docs", "stage acc", "direct acc"], rows)
    lines += ["", "Cantonese and Wu sentences (Tatoeba yue/wuu), scored separately: exact label, and share "
              f"labelled zh (what a zh keep list would keep). Command: `python benchmarks/lid_accuracy.py{q}`.", ""]
    rows = []
    for name in ["tatoeba-yue-wuu-sentences", "tatoeba-yue-wuu-docs"]:
        for lang, r in sets[name]["per_lang"].items():
            rows.append([name.replace("tatoeba-yue-wuu-", ""), lang, r["n"], C.pct(r["stage_acc"]),
                         C.pct(r["direct_acc"]), C.pct(r["stage_as_zh"]), C.pct(r["direct_as_zh"])])
    lines += C.md_table(["unit", "gold", "inputs", "stage exact", "direct exact", "stage as zh", "direct as zh"],
                        rows)
    return lines


def _print_losses(res: dict) -> None:
    for name in ["tatoeba-sentences", "tatoeba-docs", "udhr"]:
        ex = res["sets"][name]["loss_examples"]
        if ex:
            print(f"\n{name}: examples where direct is right and the stage is wrong "
                  f"(by gold: {res['sets'][name]['losses_by_lang']}):")
            for e in ex[:8]:
                print(f"  gold={e['gold']} stage={e['stage']}({e['stage_score']},{e['stage_script']},"
                      f"mixed={e['mixed']}) direct={e['direct']}({e['direct_score']}) {e['text'][:100]!r}")


def main() -> int:
    return C.cli(NAME, __doc__, lambda args: run(args.quick), render, details=_print_losses)


if __name__ == "__main__":
    sys.exit(main())
