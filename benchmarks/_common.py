"""Shared helpers for the evaluation benchmarks: paths, data loaders for ../shared/data, result I/O.

Nothing here copies third-party data into the repository: loaders read ../shared/data in place, and the
trafilatura HTML archives are unpacked under /tmp.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import platform
import random
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

T = TypeVar("T", str, int)

SHARED_DATA = Path(os.environ.get("CURATE_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS_DIR = Path(os.environ.get("CURATE_BENCH_TMP", "/tmp/multiphase-curation-bench"))
SAMPLE_DIR = ROOT / "data" / "sample"
SEED = 20240611

# Tatoeba: ISO 639-3 language part of the label -> the stage's code (ISO 639-1 where one exists).
TATOEBA_MAIN = {"cmn": "zh", "eng": "en", "jpn": "ja", "kor": "ko", "ara": "ar", "rus": "ru",
                "fra": "fr", "deu": "de", "spa": "es"}
# Chinese varieties other than Mandarin: scored separately (lid.176 has yue and wuu labels), not in the
# main accuracy. Every other label (lzh, cjy, hak, nan, Arabic dialects arq/arz/..., ...) is excluded.
TATOEBA_SEPARATE = {"yue": "yue", "wuu": "wuu"}
TATOEBA_FILES = ("zho", "eng", "jpn", "kor", "ara", "rus", "fra", "deu", "spa")

# Code synonyms applied to gold and predicted labels alike before comparing (UDHR / lid.176 naming):
# Filipino = Tagalog (lid.176 "tl"), Norwegian Bokmal under the macrolanguage "no" (lid.176 has no "nb"),
# Standard Malay zlm and UDHR's non-standard "mly" -> "ms".
CODE_ALIASES = {"fil": "tl", "tgl": "tl", "nb": "no", "nob": "no", "zlm": "ms", "mly": "ms"}

# UDHR "als" is Tosk Albanian (ISO 639-3), while lid.176's "als" label is Alemannic (Wikipedia's code).
UDHR_OVERRIDES = {"als": "sq"}


def canon(code: str | None) -> str:
    if not code:
        return "und"
    code = code.split("-")[0].split("_")[0].lower()
    return CODE_ALIASES.get(code, code)


# --------------------------------------------------------------------------------------------- run


def build_corpus_module():
    """scripts/build_corpus.py as a module: its readers of ../shared/data (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("_build_corpus", ROOT / "scripts" / "build_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_bench_corpus(corpus: Path, target_mb: int, shard_mb: float = 0.0) -> Path:
    """The benchmark corpus (scripts/build_corpus.py from ../shared/data and the embedded sample) in
    `corpus`, rebuilt only when missing or of another size or file layout (`shard_mb`: about that much
    text per file, 0 = one file per source); returns its config.yaml."""
    import json
    import subprocess
    import sys

    if not SHARED_DATA.is_dir():
        raise SystemExit(f"the benchmark needs ../shared/data (not found at {SHARED_DATA})")
    built = corpus / "built.json"
    want = {"mb": target_mb, "shard_mb": shard_mb}
    if json.loads(built.read_text() if built.exists() else "{}") != want:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_corpus.py"), "--shared", str(SHARED_DATA),
                        "--out", str(corpus), "--target-mb", str(target_mb), "--shard-mb", str(shard_mb),
                        "--sample-dir", str(ROOT / "data" / "sample")], check=True, capture_output=True)
        built.write_text(json.dumps(want))
    return corpus / "config.yaml"


def components(nodes: Iterable[T], edges: Iterable[tuple[T, T]]) -> dict[T, T]:
    """Connected components with a union-find: node -> the smallest node of its component."""
    parent = {n: n for n in nodes}

    def find(x: T) -> T:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in parent}


def require_shared_data(*folders: str) -> Path | None:
    """The data root, or None after printing why the benchmark is skipped."""
    if not SHARED_DATA.is_dir():
        print(f"SKIP: ../shared/data not found at {SHARED_DATA}; these benchmarks need the third-party data "
              "described in benchmarks/README.md", file=sys.stderr)
        return None
    missing = [f for f in folders if not (SHARED_DATA / f).is_dir()]
    if missing:
        print(f"SKIP: missing data folders under {SHARED_DATA}: {', '.join(missing)}", file=sys.stderr)
        return None
    return SHARED_DATA


def lid_model_path() -> str:
    try:
        from pipeline.models import default_lid_model
        path = default_lid_model()
    except Exception:  # pragma: no cover - pipeline package not importable
        path = str(Path.home() / ".cache" / "multiphase-curation" / "models" / "lid.176.ftz")
    if not Path(path).exists():
        raise SystemExit(f"{path} is missing: run `make setup` (or `curate fetch-models`) first")
    return path


def arg_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help="run on a deterministic subsample")
    parser.add_argument("--json", type=Path, default=None,
                        help=f"write raw results here (default {RESULTS_DIR}/<name>.json)")
    return parser


def cli(name: str, doc: str | None, run: Callable[[argparse.Namespace], dict | None],
        render: Callable[[dict], list[str]], configure: Callable[[argparse.ArgumentParser], None] | None = None,
        details: Callable[[dict], None] | None = None) -> int:
    """The shared `main` of the benchmark scripts: parse arguments, run, save raw results, print the
    tables (and `details`, e.g. error examples). Returns the exit status (0; a missing data set skips)."""
    parser = arg_parser(doc)
    if configure:
        configure(parser)
    args = parser.parse_args()
    res = run(args)
    if res is None:
        return 0
    path = write_results(name, res, args.json)
    print("\n".join(render(res)))
    if details:
        details(res)
    print(f"\nraw results: {path} ({res['seconds']} s)")
    return 0


REPORT_TITLE = "# Benchmarks\n\nRefreshed by `make bench`; each section says which script wrote it.\n\n"


def markers(section: str) -> tuple[str, str]:
    return f"<!-- {section}:begin -->", f"<!-- {section}:end -->"


def replace_section(path: Path, section: str, block: str) -> None:
    """Puts `block` (which starts and ends with the section's markers) in place of that section of
    BENCHMARKS.md, or appends it; every other section is left as it is."""
    begin, end_marker = markers(section)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = text.find(begin), text.find(end_marker)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(end_marker):]
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else REPORT_TITLE) + block
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def git_sha() -> str:
    """Short HEAD commit, "+changes" when tracked files differ from it, "unknown" outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True,  # read-only: no index refresh
                               env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}


def write_results(name: str, results: dict, path: Path | None) -> Path:
    path = path or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return path


def subsample(items: list, n: int | None, seed: int = SEED) -> list:
    """A deterministic subsample of n items in their original order (all when n is None or >= len)."""
    if n is None or n >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]


def pin_one_core() -> str:
    """Pin this process to one CPU (single-core throughput); returns a note for the report."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def quiet_fasttext() -> None:
    try:
        import fasttext
        fasttext.FastText.eprint = lambda *a, **k: None
    except Exception:
        pass


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# ------------------------------------------------------------------------------------------- tatoeba


@dataclass(frozen=True)
class Sentence:
    text: str
    raw_label: str    # as in the .labels file, e.g. cmn_Hant
    gold: str | None  # stage code (zh, en, ...), yue/wuu, or None = excluded
    group: str        # "main", "separate" or "excluded"
    file: str


def tatoeba_gold(raw_label: str) -> tuple[str | None, str]:
    lang = raw_label.split("_")[0]
    if lang in TATOEBA_MAIN:
        return TATOEBA_MAIN[lang], "main"
    if lang in TATOEBA_SEPARATE:
        return TATOEBA_SEPARATE[lang], "separate"
    return None, "excluded"


def load_tatoeba(root: Path) -> list[Sentence]:
    folder = root / "lid-tatoeba-v2021-08-07"
    out = []
    for name in TATOEBA_FILES:
        texts = (folder / f"{name}.txt").read_text(encoding="utf-8").split("\n")
        labels = (folder / f"{name}.labels").read_text(encoding="utf-8").split("\n")
        if texts and texts[-1] == "" and labels and labels[-1] == "":
            texts, labels = texts[:-1], labels[:-1]
        if len(texts) != len(labels):
            raise ValueError(f"{name}: {len(texts)} lines vs {len(labels)} labels")
        for text, label in zip(texts, labels, strict=True):
            label = label.strip()
            text = text.strip()
            if not text:
                continue
            gold, group = tatoeba_gold(label)
            out.append(Sentence(text, label, gold, group, name))
    return out


def tatoeba_documents(sentences: list[Sentence], per_doc: int = 5) -> list[Sentence]:
    """Non-overlapping runs of `per_doc` consecutive sentences of one file with the same gold language,
    joined with "\\n"; an incomplete run at the end of a same-language stretch is dropped."""
    docs: list[Sentence] = []
    run: list[Sentence] = []

    def flush() -> None:
        run.clear()

    for s in sentences:
        if s.gold is None:
            flush()
            continue
        if run and (run[-1].gold != s.gold or run[-1].file != s.file):
            flush()
        run.append(s)
        if len(run) == per_doc:
            labels = sorted({r.raw_label for r in run})
            docs.append(Sentence("\n".join(r.text for r in run), "+".join(labels), s.gold, s.group, s.file))
            flush()
    return docs


# --------------------------------------------------------------------------------------------- udhr


@dataclass(frozen=True)
class UdhrDoc:
    code: str    # file name, e.g. cmn_hans
    gold: str    # canonical code, e.g. zh
    text: str


def udhr_gold(code: str, known: set[str] | frozenset[str] = frozenset()) -> str | None:
    """UDHR file name -> the stage's code: the standardized ISO 639 tag when the model knows it (bcl, pnb,
    ...), else its macrolanguage (cmn -> zh, arb -> ar, pes -> fa, ...); None for non-language names."""
    import langcodes

    base = code.split("_")[0]
    if not base.isalpha():
        return None
    if base in UDHR_OVERRIDES:
        return UDHR_OVERRIDES[base]
    if base in CODE_ALIASES:
        return CODE_ALIASES[base]
    tags = []
    for macro in (False, True):
        try:
            tags.append(canon(langcodes.standardize_tag(base, macro=macro)))
        except Exception:
            pass
    for tag in tags:
        if tag in known:
            return tag
    return tags[-1] if tags else None


def load_udhr(root: Path, known: set[str] | frozenset[str] = frozenset()) -> list[UdhrDoc]:
    docs = []
    with zipfile.ZipFile(root / "lid-udhr2" / "udhr2.zip") as z:
        for name in sorted(z.namelist()):
            if not name.endswith(".txt"):
                continue
            code = name.rsplit("/", 1)[-1][:-4]
            gold = udhr_gold(code, known)
            text = z.read(name).decode("utf-8")
            # one document per file; drop the leading indentation of each line, keep the line structure
            text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
            if gold and text:
                docs.append(UdhrDoc(code, gold, text))
    return docs


# ----------------------------------------------------------------------------------------- zh pairs


def load_zh_pairs(root: Path) -> list[tuple[str, str, str]]:
    """(sent_id, text_hant, text_hans) rows of pairs_hant_hans.tsv."""
    rows = []
    path = root / "zh-script-variant-pairs-ud-gsd" / "pairs_hant_hans.tsv"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if i == 0 and parts[0] == "sent_id":
            continue
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


# -------------------------------------------------------------------------------------------- html


def trafilatura_pages(root: Path, extract_to: Path) -> list[dict]:
    """Pages of web-html-trafilatura-eval that have an evaldata.json entry:
    {"path", "url", "with", "without", "html_lang"}. The tar.xz parts are unpacked once under extract_to."""
    folder = root / "web-html-trafilatura-eval"
    marker = extract_to / ".complete"
    if not marker.exists():
        extract_to.mkdir(parents=True, exist_ok=True)
        for part in sorted(folder.glob("trafilatura-html-part*.tar.xz")):
            with tarfile.open(part, "r:xz") as tar:
                members = [m for m in tar.getmembers() if m.isfile() and not m.name.startswith(("/", ".."))
                           and ".." not in Path(m.name).parts]
                tar.extractall(extract_to, members=members)
        marker.write_text("ok")
    manifest = {}
    for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            manifest[Path(row["path"]).name] = row
    evaldata = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for url, entry in evaldata.items():
        name = entry["file"]
        path = None
        for sub in ("eval", "cache"):
            if (extract_to / sub / name).is_file():
                path = extract_to / sub / name
                break
        if path is None:
            continue
        pages.append({"path": str(path), "url": url, "with": entry.get("with") or [],
                      "without": entry.get("without") or [],
                      "html_lang": manifest.get(name, {}).get("html_lang", "")})
    pages.sort(key=lambda p: p["path"])
    return pages


def scrapinghub_pages(root: Path) -> list[dict]:
    """{"id", "url", "raw" (bytes), "body"} for every page of web-articles-scrapinghub-aeb."""
    folder = root / "web-articles-scrapinghub-aeb"
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for doc_id in sorted(truth):
        path = folder / "html" / f"{doc_id}.html.gz"
        if path.is_file():
            pages.append({"id": doc_id, "url": truth[doc_id].get("url"), "raw": gzip.decompress(path.read_bytes()),
                          "body": truth[doc_id].get("articleBody") or ""})
    return pages


# -------------------------------------------------------------------------------------------- sample


def sample_texts() -> list[str]:
    texts = []
    for path in sorted(SAMPLE_DIR.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
                    texts.append(row["text"])
    return texts


# ------------------------------------------------------------------------------------------ markdown


def md_table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return lines


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"
