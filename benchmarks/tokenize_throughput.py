"""Tokenization throughput on one core: the TokenizeDocuments stage's batch function
(`transforms.tokenize.TokenizeBatchFn.process` on batches of `BATCH_CHARS` characters, as the stage's
BatchElements cuts them: BOS/EOS framing, U+2581 handling, uint32 arrays, TokenizedDoc objects, counters)
vs SentencePiece called directly on the same documents: one `sp.encode(list_of_texts)` call (library
defaults: Python int lists) and, for reference, `sp.encode(text)` per document.

Documents: the real text of ../shared/data read with the readers of scripts/build_corpus.py (web_en:
Dolma/CCNet, Stack Exchange, scrapinghub articles; web_zh: CMRC 2018, UD GSD; encyclopedia: WikiText-2;
books: Gutenberg/Aozora; code: HumanEval-X), plus the embedded sample (data/sample/*.jsonl.gz). The
tokenizer is trained by the project's own code (tokenizer/train.py: `select_sample` + `train_sentencepiece`,
BPE) on the documents outside its held-out share; the fertility table is measured on the held-out ones
(pipeline/tokenizer_step.py `fertility`). Each throughput measurement is repeated 5 times (interleaved)
and the best time is reported ("all" = the sum of the corpora's best times); MB = UTF-8 bytes / 1e6.
Acceptance: stage docs/s >= 0.8 x one `sp.encode(list)` call, on all documents.
"""

from __future__ import annotations

import sys
import time

import _common as C

NAME = "tokenize_throughput"
REPEATS = 5
VOCAB, QUICK_VOCAB = 16_000, 8_000
QUICK_DOCS = 600   # per corpus


def load_corpora(root, quick: bool) -> dict[str, list[dict]]:  # noqa: ANN001
    """{corpus: [curated-like rows {"id", "source", "lang", "text"}]}."""
    bc = C.build_corpus_module()
    corpora = {}
    for source in bc.SOURCES:
        rows = [{"id": r["id"], "source": source, "lang": r.get("lang") or "und", "text": r["text"]}
                for r in bc.load_source(root, source, lambda msg: print(msg, file=sys.stderr)) if r["text"]]
        corpora[source] = C.subsample(rows, QUICK_DOCS if quick else None)
    sample = [{"id": f"sample/{i}", "source": "sample", "lang": "und", "text": t}
              for i, t in enumerate(C.sample_texts())]
    corpora["sample"] = C.subsample(sample, QUICK_DOCS if quick else None)
    return corpora


def train(corpora: dict[str, list[dict]], vocab: int):  # noqa: ANN201
    from tokenizer.train import CuratedDoc, TokenizerTrainConfig, select_heldout, select_sample, train_sentencepiece
    from tokenizer.wrapper import Tokenizer

    cfg = TokenizerTrainConfig(vocab_size=vocab, sample_chars=max(500 * vocab, 4_000_000), num_threads=1,
                               fertility_chars=200_000)
    docs = [CuratedDoc(r["id"], r["source"], r["lang"], r["text"]) for rows in corpora.values() for r in rows
            if r["source"] != "sample"]
    sample = select_sample(docs, cfg)
    model, sidecar = train_sentencepiece(sample, cfg)
    return Tokenizer(model), sidecar, select_heldout(docs, cfg)


def measure(tok, rows: list[dict], repeats: int) -> dict:  # noqa: ANN001
    import sentencepiece as spm

    from transforms.tokenize import BATCH_CHARS, TokenizeBatchFn

    fn = TokenizeBatchFn(tok)
    fn.setup()
    batches, cur, size = [], [], 0
    for row in rows:  # as BatchElements(min = max = BATCH_CHARS, element_size_fn = len(text)) cuts them
        if cur and size + len(row["text"]) > BATCH_CHARS:
            batches.append(cur)
            cur, size = [], 0
        cur.append(row)
        size += len(row["text"])
    if cur:
        batches.append(cur)
    texts = [r["text"] for r in rows]
    sp = spm.SentencePieceProcessor(model_proto=tok.model_bytes)

    def stage() -> None:
        for batch in batches:
            for _ in fn.process(batch):
                pass

    def direct_list() -> None:
        sp.encode(texts)

    def direct_each() -> None:
        for t in texts:
            sp.encode(t)

    fns = {"stage": stage, "sp.encode(list)": direct_list, "sp.encode(text)": direct_each}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    out = {"docs": len(texts), "mb": round(mb, 3), "batches": len(batches),
           "tokens": sum(len(x) for x in sp.encode(texts)), "runs": {}}
    for name, ts in times.items():
        s = min(ts)  # best of the interleaved runs: the least disturbed by other processes
        out["runs"][name] = {"seconds": round(s, 4), "all_seconds": [round(x, 4) for x in ts],
                             "docs_per_s": len(texts) / s, "mb_per_s": mb / s}
    out["ratio_stage_direct"] = out["runs"]["stage"]["docs_per_s"] / out["runs"]["sp.encode(list)"]["docs_per_s"]
    return out


def combine(results: dict) -> dict:
    """The union of the corpora, from the sums of their best times (not measured again)."""
    docs = sum(r["docs"] for r in results.values())
    mb = sum(r["mb"] for r in results.values())
    out = {"docs": docs, "mb": round(mb, 3), "tokens": sum(r["tokens"] for r in results.values()), "runs": {}}
    for name in next(iter(results.values()))["runs"]:
        s = sum(r["runs"][name]["seconds"] for r in results.values())
        out["runs"][name] = {"seconds": round(s, 4), "docs_per_s": docs / s, "mb_per_s": mb / s}
    out["ratio_stage_direct"] = out["runs"]["stage"]["docs_per_s"] / out["runs"]["sp.encode(list)"]["docs_per_s"]
    return out


def run(quick: bool = False) -> dict | None:
    root = C.require_shared_data("cc-web-samples-dolma-ccnet", "zh-hans-wiki-cmrc2018", "code-humaneval-x")
    if root is None:
        return None
    pinned = C.pin_one_core()
    from pipeline.tokenizer_step import fertility

    started = time.perf_counter()
    corpora = load_corpora(root, quick)
    vocab = QUICK_VOCAB if quick else VOCAB
    t0 = time.perf_counter()
    tok, sidecar, heldout = train(corpora, vocab)
    train_s = time.perf_counter() - t0
    print(f"trained BPE {tok.vocab_size} pieces on {sidecar['sample']['chars']:,} characters in {train_s:.1f} s",
          flush=True)
    repeats = 1 if quick else REPEATS
    tok.encode_batch([r["text"] for r in corpora["sample"][:64]])  # warm-up
    results = {}
    for name, rows in corpora.items():
        results[name] = r = measure(tok, rows, repeats)
        print(f"{name}: {r['docs']} docs {r['mb']} MB: stage {r['runs']['stage']['mb_per_s']:.2f} MB/s, "
              f"sp.encode(list) {r['runs']['sp.encode(list)']['mb_per_s']:.2f} MB/s, "
              f"ratio {r['ratio_stage_direct']:.2f}", flush=True)
    results["all"] = combine(results)
    return {"name": NAME, "quick": quick, "machine": C.machine(), "cpu": pinned, "repeats": repeats,
            "seconds": round(time.perf_counter() - started, 1),
            "tokenizer": {"vocab_size": tok.vocab_size, "requested": vocab, "train_seconds": round(train_s, 1),
                          "sample_chars": sidecar["sample"]["chars"], "sample_docs": sidecar["sample"]["documents"],
                          "warnings": sidecar["warnings"]},
            "fertility": fertility(tok, heldout), "corpora": results,
            "acceptance": {"criterion": "stage / sp.encode(list) docs/s >= 0.8 on all documents",
                           "pass": results["all"]["ratio_stage_direct"] >= 0.8}}


def render(res: dict) -> list[str]:
    q = " --quick" if res.get("quick") else ""
    t = res["tokenizer"]
    lines = ["### Tokenization throughput and fertility", "",
             f"One core ({res['cpu']}), one process, best of {res['repeats']} interleaved run(s): the "
             "TokenizeDocuments batch function (`TokenizeBatchFn.process`, batches of 2^18 characters) vs one "
             "`sp.encode(list_of_texts)` call vs `sp.encode(text)` per document, same documents, same model "
             f"(BPE, {t['vocab_size']} pieces, trained by tokenizer/train.py on {t['sample_chars']:,} characters "
             f"of these corpora in {t['train_seconds']} s). Command: `python benchmarks/tokenize_throughput.py{q}`.",
             ""]
    rows = []
    for name, r in res["corpora"].items():
        runs = r["runs"]
        rows.append([name, r["docs"], f"{r['mb']:.2f}", r["tokens"],
                     f"{runs['stage']['docs_per_s']:.0f} / {runs['stage']['mb_per_s']:.2f}",
                     f"{runs['sp.encode(list)']['docs_per_s']:.0f} / {runs['sp.encode(list)']['mb_per_s']:.2f}",
                     f"{runs['sp.encode(text)']['docs_per_s']:.0f} / {runs['sp.encode(text)']['mb_per_s']:.2f}",
                     f"{r['ratio_stage_direct']:.2f}"])
    lines += C.md_table(["documents", "docs", "MB", "tokens", "stage docs/s / MB/s", "sp.encode(list) docs/s / MB/s",
                         "sp.encode(text) docs/s / MB/s", "stage / sp.encode(list)"], rows)
    verdict = "PASS" if res["acceptance"]["pass"] else "FAIL"
    lines += ["", f"Acceptance (stage / sp.encode(list) >= 0.8 on all documents): **{verdict}**.", "",
              "Fertility of that tokenizer on its held-out documents (tokens without BOS/EOS; words = "
              "whitespace-separated words + unspaced-script characters / 1.5):", ""]
    fert = res["fertility"]
    frows = [[f"lang {k}", v["docs"], v["chars"], v["tokens"], v["tokens_per_char"], v["tokens_per_word"]]
             for k, v in fert["by_lang"].items()]
    frows += [[f"source {k}", v["docs"], v["chars"], v["tokens"], v["tokens_per_char"], v["tokens_per_word"]]
              for k, v in fert["by_source"].items()]
    a = fert["all"]
    frows.append(["all", a["docs"], a["chars"], a["tokens"], a["tokens_per_char"], a["tokens_per_word"]])
    lines += C.md_table(["held-out group", "docs", "chars", "tokens", "tokens/char", "tokens/word"], frows)
    return lines


def main() -> int:
    return C.cli(NAME, __doc__, lambda args: run(args.quick), render)


if __name__ == "__main__":
    sys.exit(main())
