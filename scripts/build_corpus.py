#!/usr/bin/env python3
"""Build a small, reproducible multilingual test corpus from ../shared/data.

The third-party data in the shared folder is read at run time and never copied
into the repository; the corpus is written to the --out directory as gzip JSONL
sources (web_en, web_zh, encyclopedia, books, code) plus planted.json (labels of
planted near-duplicates, exact duplicates and filler copies) and summary.json.

    python scripts/build_corpus.py --shared ../shared/data --out /tmp/corpus \
        [--target-mb 20] [--sample-dir data/sample] [--seed 7] [--shard-mb 8]

With --shard-mb, each source is split into files of about that much text
(<name>-00000.jsonl.gz, ...) in the same record order, as real corpora come in
many files (and a gzip file is read by one worker).

Every record: {"id", "text", "url" (null if unknown), "origin" (shared folder
name), "license", "lang"} (+ "programming_language" for code).

Planted copies (ids are "<original id>-nd<k>", "-dup<k>", "-rep<k>"):
  * near_dup: ~5% of English web / encyclopedia docs with >= 100 words and ~5%
    of Chinese docs with >= 200 characters get a copy with 1-3% of the words
    (characters for Chinese) substituted / deleted / inserted.  Every copy is
    checked to have 5-gram Jaccard >= 0.7 with its original.
  * exact_dup: ~2% of the same pools get an identical copy.
  * filler (only with --target-mb larger than the real text): copies with the
    sentence order shuffled and ~15% of the words replaced from the document's
    own vocabulary, so they are NOT near-duplicates (Jaccard checked < 0.5).

Sizes are UTF-8 bytes of the "text" fields; MB = 1,000,000 bytes.
Output is deterministic: sorted input listings, string-seeded random.Random
instances, no wall clock, gzip with mtime=0 and an empty file name.

Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import html.parser
import io
import json
import random
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SOURCES = ("web_en", "web_zh", "encyclopedia", "books", "code")
MB = 1_000_000

# Licence of each shared folder (from the folder READMEs).
LICENSES = {
    "cc-web-samples-dolma-ccnet": "Apache-2.0",  # allenai/dolma test data
    "forum-stackexchange-posts": "CC BY-SA 3.0/4.0",  # refined per post below
    "web-articles-scrapinghub-aeb": "MIT",
    "zh-hans-wiki-cmrc2018": "CC BY-SA 4.0",
    "zh-script-variant-pairs-ud-gsd": "CC BY-SA 4.0",
    "en-wiki-wikitext2-test": "CC BY-SA 3.0",
    "books-gutenberg-aozora": "public domain",
    "code-humaneval-x": "Apache-2.0",
}

NEAR_DUP_FRACTION = 0.05
EXACT_DUP_FRACTION = 0.02
NEAR_DUP_MIN_JACCARD = 0.7
FILLER_MAX_JACCARD = 0.5
MIN_WORDS_SPACED = 100
MIN_CHARS_CJK = 200


# --------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------

_PUNCT = re.compile(r"[^\w\s]")
_WORDY = re.compile(r"\w")


CONFIG_TEMPLATE = Path(__file__).resolve().parents[1] / "configs" / "shared-corpus.yaml"

def norm_words(text: str) -> list[str]:
    """Lowercase, punctuation -> space, split on whitespace."""
    return _PUNCT.sub(" ", text.lower()).split()


def shingles(text: str, cjk: bool, n: int = 5) -> set:
    if cjk:
        s = "".join(text.split())
        return {s[i:i + n] for i in range(max(1, len(s) - n + 1))} if s else set()
    w = norm_words(text)
    if not w:
        return set()
    return {tuple(w[i:i + n]) for i in range(max(1, len(w) - n + 1))}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def is_cjk_lang(lang: str) -> bool:
    return lang in ("zh", "ja")


# --------------------------------------------------------------------------
# HTML -> text (Stack Exchange bodies)
# --------------------------------------------------------------------------

class _HTMLText(html.parser.HTMLParser):
    BLOCK = {
        "p", "div", "pre", "blockquote", "ul", "ol", "li", "h1", "h2", "h3",
        "h4", "h5", "h6", "table", "thead", "tbody", "tr", "hr", "dl", "dt",
        "dd", "section", "article", "figure", "figcaption",
    }
    SKIP = {"script", "style"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, bool]] = []  # (text, is_list_item)
        self.buf: list = []  # text pieces; None marks a <br>
        self.pre = 0
        self.skip = 0
        self.in_li = False

    def _flush(self):
        parts, seg = [], []
        for piece in self.buf + [None]:
            if piece is None:  # <br> (or end of block)
                parts.append("".join(seg))
                seg = []
            else:
                seg.append(piece)
        self.buf = []
        if self.pre:
            text = "\n".join(parts).strip("\n")
            if not text.strip():
                return
        else:
            lines = [" ".join(p.split()) for p in parts]
            text = "\n".join(line for line in lines if line)
            if not text:
                return
        if self.in_li:
            text = "- " + text
        self.blocks.append((text, self.in_li))

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "br":
            self.buf.append(None)
        elif tag in self.BLOCK:
            self._flush()
            if tag == "pre":
                self.pre += 1
            elif tag == "li":
                self.in_li = True
            elif tag in ("ul", "ol"):
                self.in_li = False

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self.buf.append(None)
        elif tag in self.BLOCK:
            self._flush()

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self._flush()
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            elif tag == "li":
                self.in_li = False

    def handle_data(self, data):
        if not self.skip:
            self.buf.append(data)

    def text(self) -> str:
        self.close()
        self._flush()
        out: list[str] = []
        prev_li = False
        for text, li in self.blocks:
            if out:
                out.append("\n" if (li and prev_li) else "\n\n")
            out.append(text)
            prev_li = li
        return "".join(out).strip()


def html_to_text(markup: str) -> str:
    p = _HTMLText()
    p.feed(markup)
    return p.text()


# --------------------------------------------------------------------------
# language check for the article benchmark (English vs pt/it/id/de/es, scripts)
# --------------------------------------------------------------------------

_FUNCTION_WORDS = {
    "en": "the and of to is that with for this was are have it be by from at which not but",
    "pt": "de da do que em para com não uma os das dos no na se por mais é",
    "it": "di il che per una non con sono della del la le gli è anche",
    "id": "dan yang di ini itu dengan untuk dari tidak akan ada kita",
    "de": "der die und das ist mit nicht den von zu im auf für sich",
    "es": "el los las del que por con una para es se",
}
_FUNCTION_WORDS = {k: sorted(set(v.split())) for k, v in _FUNCTION_WORDS.items()}


_LETTER = re.compile(r"[^\W\d_]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")


def looks_english(text: str) -> bool:
    letters = len(_LETTER.findall(text))
    if not letters:
        return False
    if len(_LATIN_LETTER.findall(text)) / letters < 0.9:
        return False
    counts = collections.Counter(re.findall(r"[^\W\d_]+", text.lower()))
    score = {lang: sum(counts[w] for w in words) for lang, words in _FUNCTION_WORDS.items()}
    en = score.pop("en")
    return en > 0 and all(en > s for s in score.values())


# --------------------------------------------------------------------------
# readers: each yields dicts {short, text, url, origin, license, lang, ...}
# --------------------------------------------------------------------------

def _doc(short, text, origin, lang, url=None, license=None, **extra):
    d = {"short": short, "text": text, "url": url, "origin": origin,
         "license": license or LICENSES[origin], "lang": lang}
    d.update(extra)
    return d


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")


def _iter_jsonl(path: Path):
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(obj, dict):
                yield obj


def read_dolma(shared: Path):
    origin = "cc-web-samples-dolma-ccnet"
    folder = shared / origin
    files = sorted(p for p in folder.iterdir()
                   if p.name.startswith("dolma_") and (p.name.endswith(".jsonl") or p.name.endswith(".json.gz")))
    for p in files:
        for obj in _iter_jsonl(p):
            text = obj.get("text")
            if not isinstance(text, str) or not text.strip():
                continue
            url = None
            meta = obj.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("url"), str):
                url = meta["url"]
            if isinstance(obj.get("id"), str) and obj["id"].startswith(("http://", "https://")):
                url = obj["id"]
            yield _doc("dolma", text, origin, "en", url=url)


_SE_CC4_FROM = "2018-05-02"


def read_stackexchange(shared: Path):
    origin = "forum-stackexchange-posts"
    folder = shared / origin
    for p in sorted(folder.glob("*Posts.xml")):
        site = p.name[: -len(".Posts.xml")] + ".com"  # coffee.stackexchange.com
        for _, el in ET.iterparse(str(p), events=("end",)):
            if el.tag != "row":
                continue
            body = el.get("Body") or ""
            title = el.get("Title") or ""
            post_id = el.get("Id")
            ptype = el.get("PostTypeId")
            created = el.get("CreationDate") or ""
            el.clear()
            text = html_to_text(body)
            title = " ".join(title.split())
            if title:
                text = title + ("\n\n" + text if text else "")
            if not text.strip():
                continue
            url = None
            if ptype == "1":
                url = f"https://{site}/q/{post_id}"
            elif ptype == "2":
                url = f"https://{site}/a/{post_id}"
            lic = "CC BY-SA 4.0" if created >= _SE_CC4_FROM else "CC BY-SA 3.0"
            yield _doc("stackexchange", text, origin, "en", url=url, license=lic)


def read_aeb(shared: Path):
    origin = "web-articles-scrapinghub-aeb"
    path = shared / origin / "ground-truth.json"
    if not path.exists():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in sorted(data):
        item = data[key]
        if not isinstance(item, dict):
            continue
        text = item.get("articleBody")
        if not isinstance(text, str) or not text.strip() or not looks_english(text):
            continue
        url = item.get("url") if isinstance(item.get("url"), str) else None
        yield _doc("aeb", text, origin, "en", url=url)


def read_cmrc(shared: Path):
    origin = "zh-hans-wiki-cmrc2018"
    seen = set()
    for p in sorted((shared / origin).glob("cmrc2018_*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        for art in data.get("data", []):
            for para in art.get("paragraphs", []):
                text = para.get("context")
                if not isinstance(text, str) or not text.strip() or text in seen:
                    continue
                seen.add(text)
                yield _doc("cmrc2018", text, origin, "zh")


def read_gsd_simplified(shared: Path, per_doc: int = 10):
    origin = "zh-script-variant-pairs-ud-gsd"
    sents = []
    for p in sorted((shared / origin).glob("zh_gsdsimp-ud-*.conllu")):
        for line in _read_text(p).split("\n"):
            if line.startswith("# text = "):
                s = line[len("# text = "):].strip()
                if s:
                    sents.append(s)
    for i in range(0, len(sents), per_doc):
        yield _doc("udgsd", "".join(sents[i:i + per_doc]), origin, "zh")


_WT_HEADING = re.compile(r" = [^=].* = ")
_WT_STOP = {"the", "of", "and", "a", "an", "in", "on", "at", "to", "for", "by", "with", "from", "s"}


def _wt_title_words(title: str) -> list[str]:
    title = re.sub(r"\(.*?\)", " ", title)
    return [w for w in norm_words(title) if w not in _WT_STOP and not w.isdigit() and len(w) > 1]


def split_wikitext(text: str) -> list[str]:
    """Split WikiText raw text into articles at top-level " = Title = " lines.

    A few formula fragments inside articles also look like top-level headings
    (" = 1 rad / s and a nominal impedance k = "); a heading only starts a new
    article if one of its title words occurs near the start of the next line.
    """
    lines = text.splitlines(keepends=True)
    starts = []
    for i, line in enumerate(lines):
        if not _WT_HEADING.fullmatch(line.rstrip("\n")):
            continue
        title = line.strip().strip("=").strip()
        nxt = norm_words(lines[i + 1][:300]) if i + 1 < len(lines) else []
        words = _wt_title_words(title)
        if not starts or not words or set(words) & set(nxt):
            starts.append(i)
    if not starts:
        return [text] if text.strip() else []
    arts = []
    if starts[0] > 0 and "".join(lines[:starts[0]]).strip():
        arts.append("".join(lines[:starts[0]]))
    for a, b in zip(starts, starts[1:] + [len(lines)], strict=True):
        arts.append("".join(lines[a:b]))
    return arts


def read_wikitext(shared: Path):
    origin = "en-wiki-wikitext2-test"
    for p in sorted((shared / origin).glob("*.raw")):
        for art in split_wikitext(_read_text(p)):
            yield _doc("wikitext2", art, origin, "en")


def split_botchan(text: str) -> list[str]:
    """Chapters of the Gutenberg Botchan, without the licence header/footer and front matter."""
    lines = text.split("\n")
    end_marks = ("*** END OF", "End of Project Gutenberg")
    end = next((i for i, ln in enumerate(lines) if ln.startswith(end_marks)), len(lines))
    # the story ends at "--(THE END)--"; transcriber's errata notes follow it
    the_end = next((i for i in range(end) if lines[i].strip() == "--(THE END)--"), None)
    if the_end is not None:
        end = the_end + 1
    starts = [i for i in range(end) if re.fullmatch(r"CHAPTER [IVXLC]+\.?\s*", lines[i])]
    return ["\n".join(lines[a:b]).strip("\n") + "\n" for a, b in zip(starts, starts[1:] + [end], strict=True)]


_JA_SENT = re.compile(r"[^。！？\n]*(?:[。！？]+[」』）]*|\n|$)")


def chunk_japanese(text: str, size: int = 3000) -> list[str]:
    """Greedy chunks of whole sentences / lines, each at most ~size characters."""
    units = [u for u in _JA_SENT.findall(text) if u]
    chunks, cur, n = [], [], 0
    for u in units:
        if cur and n + len(u) > size:
            chunks.append("".join(cur))
            cur, n = [], 0
        cur.append(u)
        n += len(u)
    if cur:
        chunks.append("".join(cur))
    return [c.strip("\n") for c in chunks if c.strip()]


def strip_aozora(text: str) -> str:
    lines = text.split("\n")
    seps = [i for i, ln in enumerate(lines[:60]) if re.fullmatch(r"-{20,}\s*", ln)]
    start = seps[1] + 1 if len(seps) >= 2 else 0
    end = next((i for i in range(len(lines) - 1, start, -1) if lines[i].startswith("底本：")), len(lines))
    return "\n".join(lines[start:end]).strip("\n")


def read_books(shared: Path):
    origin = "books-gutenberg-aozora"
    folder = shared / origin
    botchan = folder / "botchan.txt"
    if botchan.exists():
        for ch in split_botchan(_read_text(botchan)):
            yield _doc("gutenberg", ch, origin, "en", url="https://www.gutenberg.org/ebooks/8868")
    neko = folder / "wagahaiwa_nekodearu.txt"
    if neko.exists():
        for chunk in chunk_japanese(strip_aozora(_read_text(neko))):
            yield _doc("aozora", chunk, origin, "ja")


def read_code(shared: Path):
    origin = "code-humaneval-x"
    for p in sorted((shared / origin).glob("humaneval_*.jsonl.gz")):
        plang = p.name[len("humaneval_"):-len(".jsonl.gz")]
        for obj in _iter_jsonl(p):
            prompt, sol = obj.get("prompt"), obj.get("canonical_solution")
            if not isinstance(prompt, str) or not isinstance(sol, str):
                continue
            yield _doc("humanevalx", prompt + sol, origin, "code", programming_language=plang)


READERS = {
    "web_en": (read_dolma, read_stackexchange, read_aeb),
    "web_zh": (read_cmrc, read_gsd_simplified),
    "encyclopedia": (read_wikitext,),
    "books": (read_books,),
    "code": (read_code,),
}
READER_FOLDER = {
    read_dolma: "cc-web-samples-dolma-ccnet",
    read_stackexchange: "forum-stackexchange-posts",
    read_aeb: "web-articles-scrapinghub-aeb",
    read_cmrc: "zh-hans-wiki-cmrc2018",
    read_gsd_simplified: "zh-script-variant-pairs-ud-gsd",
    read_wikitext: "en-wiki-wikitext2-test",
    read_books: "books-gutenberg-aozora",
    read_code: "code-humaneval-x",
}


def load_source(shared: Path, source: str, warn) -> list[dict]:
    records, counters = [], collections.Counter()
    for reader in READERS[source]:
        folder = shared / READER_FOLDER[reader]
        if not folder.is_dir():
            warn(f"warning: {folder} not found, skipping")
            continue
        for d in reader(shared):
            short = d.pop("short")
            rec = {"id": f"{source}-{short}-{counters[short]}"}
            counters[short] += 1
            rec.update(d)
            records.append(rec)
    return records


# --------------------------------------------------------------------------
# edits
# --------------------------------------------------------------------------

def _spaced_tokens(text: str) -> tuple[list[str], list[str]]:
    """Split into tokens and the whitespace after each (leading ws kept as a prefix)."""
    parts = re.split(r"(\s+)", text)
    lead = ""
    if parts and parts[0] == "":
        parts = parts[1:]
        lead = parts.pop(0) if parts else ""
    toks, seps = parts[0::2], parts[1::2]
    seps += [""] * (len(toks) - len(seps))
    if lead and toks:
        toks[0] = lead + toks[0]
    return toks, seps


def edit_spaced(text: str, rng: random.Random, n_edits: int) -> str:
    toks, seps = _spaced_tokens(text)
    wordy = [i for i, t in enumerate(toks) if _WORDY.search(t)]
    vocab = sorted({toks[i].strip() for i in wordy})
    if not wordy or len(vocab) < 2:
        return text
    ops = {}
    for i in sorted(rng.sample(wordy, min(n_edits, len(wordy)))):
        ops[i] = rng.choice(("sub", "del", "ins"))
    out = []
    for i, (t, s) in enumerate(zip(toks, seps, strict=False)):
        op = ops.get(i)
        if op == "del":
            continue
        if op == "sub":
            lead = t[: len(t) - len(t.lstrip())]
            new = rng.choice(vocab)
            while new == t.strip():
                new = rng.choice(vocab)
            t = lead + new
        elif op == "ins":
            out.append(rng.choice(vocab) + " ")
        out.append(t + s)
    return "".join(out)


def edit_cjk(text: str, rng: random.Random, n_edits: int) -> str:
    chars = list(text)
    cand = [i for i, c in enumerate(chars) if not c.isspace()]
    vocab = sorted({chars[i] for i in cand})
    if not cand or len(vocab) < 2:
        return text
    ops = {i: rng.choice(("sub", "del", "ins")) for i in sorted(rng.sample(cand, min(n_edits, len(cand))))}
    out = []
    for i, c in enumerate(chars):
        op = ops.get(i)
        if op == "del":
            continue
        if op == "sub":
            new = rng.choice(vocab)
            while new == c:
                new = rng.choice(vocab)
            c = new
        elif op == "ins":
            out.append(rng.choice(vocab))
        out.append(c)
    return "".join(out)


def n_units(text: str, cjk: bool) -> int:
    if cjk:
        return len("".join(text.split()))
    return sum(1 for t in text.split() if _WORDY.search(t))


def make_near_dup(text: str, cjk: bool, rng: random.Random) -> str:
    """Edit 1-3% of words (chars); shrink the edit count until Jaccard >= 0.7."""
    units = n_units(text, cjk)
    n = max(1, round(rng.uniform(0.01, 0.03) * units))
    orig = shingles(text, cjk)
    edit = edit_cjk if cjk else edit_spaced
    new = text
    for _ in range(20):
        new = edit(text, rng, n)
        j = jaccard(orig, shingles(new, cjk))
        if new != text and NEAR_DUP_MIN_JACCARD <= j < 1.0:
            return new
        if j < NEAR_DUP_MIN_JACCARD:
            n = max(1, n // 2)
        # j == 1.0: the edit vanished under normalisation (e.g. "coffee." -> "coffee"); redraw
    return new


_SENT_SPACED = re.compile(r"(?<=[.!?])\s+|\n+")
_SENT_CJK = re.compile(r"(?<=[。！？])|\n+")


def make_filler(text: str, cjk: bool, rng: random.Random) -> str:
    """Shuffle sentence order and substitute ~15% of words (chars) from the doc's own vocabulary."""
    sents = [s.strip() for s in (_SENT_CJK if cjk else _SENT_SPACED).split(text) if s and s.strip()]
    orig = shingles(text, cjk)
    frac = rng.uniform(0.12, 0.18)
    for _ in range(6):
        order = sents[:]
        rng.shuffle(order)
        paras = [order[i:i + 5] for i in range(0, len(order), 5)]
        joined = "\n\n".join(("" if cjk else " ").join(p) for p in paras)
        if cjk:
            chars = list(joined)
            cand = [i for i, c in enumerate(chars) if not c.isspace()]
            vocab = sorted({chars[i] for i in cand})
            if len(vocab) >= 2:
                for i in rng.sample(cand, max(1, round(frac * len(cand)))):
                    new = rng.choice(vocab)
                    while new == chars[i]:
                        new = rng.choice(vocab)
                    chars[i] = new
            new_text = "".join(chars)
        else:
            toks, seps = _spaced_tokens(joined)
            wordy = [i for i, t in enumerate(toks) if _WORDY.search(t)]
            vocab = sorted({toks[i].strip() for i in wordy})
            if len(vocab) >= 2:
                for i in rng.sample(wordy, max(1, round(frac * len(wordy)))):
                    new = rng.choice(vocab)
                    while new == toks[i]:
                        new = rng.choice(vocab)
                    toks[i] = new
            new_text = "".join(t + s for t, s in zip(toks, seps, strict=False))
        if jaccard(orig, shingles(new_text, cjk)) < FILLER_MAX_JACCARD:
            return new_text
        frac = min(0.5, frac + 0.1)
    return new_text


# --------------------------------------------------------------------------
# corpus assembly
# --------------------------------------------------------------------------

def _copy(rec: dict, new_id: str, text: str) -> dict:
    c = dict(rec)
    c["id"] = new_id
    c["text"] = text
    return c


def _eligible(rec: dict) -> bool:
    cjk = is_cjk_lang(rec["lang"])
    if cjk:
        return n_units(rec["text"], True) >= MIN_CHARS_CJK
    return len(norm_words(rec["text"])) >= MIN_WORDS_SPACED


def plant_duplicates(source: str, real: list[dict], seed: int):
    """Return (copies, near_dup map, exact_dup map) for one source."""
    if source not in ("web_en", "web_zh", "encyclopedia"):
        return [], {}, {}
    rng = random.Random(f"{seed}:{source}:planted")
    pool = [r for r in real if _eligible(r)]
    if not pool:
        return [], {}, {}
    n_nd = max(1, round(NEAR_DUP_FRACTION * len(pool)))
    n_ex = max(1, round(EXACT_DUP_FRACTION * len(pool)))
    n_nd = min(n_nd, len(pool))
    n_ex = min(n_ex, len(pool) - n_nd)
    chosen = rng.sample(pool, n_nd + n_ex)
    copies, near, exact = [], {}, {}
    for rec in chosen[:n_nd]:
        cid = f"{rec['id']}-nd1"
        copies.append(_copy(rec, cid, make_near_dup(rec["text"], is_cjk_lang(rec["lang"]), rng)))
        near[cid] = rec["id"]
    for rec in chosen[n_nd:]:
        cid = f"{rec['id']}-dup1"
        copies.append(_copy(rec, cid, rec["text"]))
        exact[cid] = rec["id"]
    return copies, near, exact


def add_filler(real_by_source: dict, copies_by_source: dict, total_bytes: int, target_bytes: int, seed: int):
    """Add '-rep<k>' copies round-robin over a seeded order of real docs until target_bytes."""
    filler = {}
    if total_bytes >= target_bytes:
        return filler
    pool = [(s, r) for s in SOURCES if s != "code" for r in real_by_source[s]
            if (n_units(r["text"], True) >= 100 if is_cjk_lang(r["lang"]) else n_units(r["text"], False) >= 50)]
    if not pool:
        return filler
    rng = random.Random(f"{seed}:filler")
    order = pool[:]
    rng.shuffle(order)
    k = collections.Counter()
    i = 0
    while total_bytes < target_bytes:
        source, rec = order[i % len(order)]
        i += 1
        k[rec["id"]] += 1
        cid = f"{rec['id']}-rep{k[rec['id']]}"
        text = make_filler(rec["text"], is_cjk_lang(rec["lang"]), rng)
        copies_by_source[source].append(_copy(rec, cid, text))
        filler[cid] = rec["id"]
        total_bytes += utf8_len(text)
    return filler


def interleave(real: list[dict], copies: list[dict], rng: random.Random) -> list[dict]:
    """Keep real docs in order; put each copy at a seeded random position."""
    keyed = [((i, 0, 0), r) for i, r in enumerate(real)]
    keyed += [((rng.randrange(len(real) + 1), 1, j), c) for j, c in enumerate(copies)]
    keyed.sort(key=lambda kv: kv[0])
    return [r for _, r in keyed]


def read_sample_dir(sample_dir: Path | None, warn) -> dict:
    """{source name: [records]} from sample_dir/*.jsonl.gz; missing dir -> {}."""
    out = {}
    if sample_dir is None or not sample_dir.is_dir():
        return out
    for p in sorted(sample_dir.glob("*.jsonl.gz")):
        name = p.name[: -len(".jsonl.gz")]
        recs = []
        try:
            with gzip.open(p, "rb") as f:
                lines = f.read().split(b"\n")
        except (OSError, EOFError) as e:
            warn(f"warning: cannot read sample file {p}: {e}")
            continue
        for n, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                continue
            rid = obj.get("id")
            rid = rid if isinstance(rid, str) and rid else f"{name}-{n}"
            obj["id"] = rid if rid.startswith("sample-") else "sample-" + rid
            recs.append(obj)
        out[name] = recs
    return out


def write_jsonl_gz(path: Path, records: list[dict]) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        for r in records:
            gz.write(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8"))
            gz.write(b"\n")
    path.write_bytes(buf.getvalue())


def shard_records(records: list[dict], shard_bytes: int) -> list[list[dict]]:
    """Consecutive runs of `records`, each closed once its text reaches `shard_bytes` UTF-8 bytes
    (0 = one run); never an empty run, except one for no records."""
    if shard_bytes <= 0 or not records:
        return [records]
    shards, cur, size = [], [], 0
    for r in records:
        cur.append(r)
        size += utf8_len(r["text"])
        if size >= shard_bytes:
            shards.append(cur)
            cur, size = [], 0
    if cur:
        shards.append(cur)
    return shards


def write_source(out: Path, name: str, records: list[dict], shard_bytes: int) -> list[str]:
    """`<name>.jsonl.gz`, or with `shard_bytes` `<name>-00000.jsonl.gz`, ... (about `shard_bytes` of text
    each, as real corpora come in many files); stale files of the other layout are removed first.
    Returns the file names written."""
    (out / f"{name}.jsonl.gz").unlink(missing_ok=True)
    for old in out.glob(f"{name}-[0-9]*.jsonl.gz"):
        old.unlink()
    shards = shard_records(records, shard_bytes)
    names = [f"{name}.jsonl.gz"] if shard_bytes <= 0 else [f"{name}-{k:05d}.jsonl.gz" for k in range(len(shards))]
    for file_name, shard in zip(names, shards, strict=True):
        write_jsonl_gz(out / file_name, shard)
    return names


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def build(shared: Path, out: Path, target_mb: float = 0.0, sample_dir: Path | None = None,
          seed: int = 7, log=print, warn=None, shard_mb: float = 0.0) -> dict:
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    real = {s: load_source(shared, s, warn) for s in SOURCES}
    samples = read_sample_dir(sample_dir, warn)
    names = list(SOURCES) + sorted(n for n in samples if n not in SOURCES)

    copies = {n: [] for n in names}
    planted = {"near_dup": {}, "exact_dup": {}, "filler": {}}
    for s in SOURCES:
        c, near, exact = plant_duplicates(s, real[s], seed)
        copies[s].extend(c)
        planted["near_dup"].update(near)
        planted["exact_dup"].update(exact)

    # make sample ids unique against everything else
    used = {r["id"] for s in SOURCES for r in real[s] + copies[s]}
    for n in sorted(samples):
        for r in samples[n]:
            base, k = r["id"], 1
            while r["id"] in used:
                k += 1
                r["id"] = f"{base}-{k}"
            used.add(r["id"])

    total = sum(utf8_len(r["text"]) for n in names for r in real.get(n, []) + copies[n] + samples.get(n, []))
    planted["filler"] = add_filler(real, copies, total, int(round(target_mb * MB)), seed)

    out.mkdir(parents=True, exist_ok=True)
    summary = {"seed": seed, "target_mb": target_mb, "shard_mb": shard_mb, "mb_unit_bytes": MB, "sources": {}}
    kinds = {cid: kind for kind in planted for cid in planted[kind]}
    for n in names:
        records = interleave(real.get(n, []), copies[n], random.Random(f"{seed}:{n}:order"))
        records += samples.get(n, [])
        files = write_source(out, n, records, int(round(shard_mb * MB)))
        seen, natural_dups = set(), 0
        for r in real.get(n, []):
            natural_dups += r["text"] in seen
            seen.add(r["text"])
        kc = collections.Counter(kinds[c["id"]] for c in copies[n])
        summary["sources"][n] = {
            "docs": len(records),
            "files": len(files),
            "real_docs": len(real.get(n, [])),
            "sample_docs": len(samples.get(n, [])),
            "near_dup": kc["near_dup"],
            "exact_dup": kc["exact_dup"],
            "filler": kc["filler"],
            "natural_exact_dups": natural_dups,
            "text_mb": round(sum(utf8_len(r["text"]) for r in records) / MB, 3),
            "real_text_mb": round(sum(utf8_len(r["text"]) for r in real.get(n, [])) / MB, 3),
        }
    srcs = summary["sources"].values()
    summary["total"] = {k: (round(sum(v[k] for v in srcs), 3) if k.endswith("_mb") else sum(v[k] for v in srcs))
                        for k in next(iter(srcs))}
    write_json(out / "planted.json", planted)
    write_json(out / "summary.json", summary)

    log(f"{'source':<14}{'docs':>8}{'real':>8}{'sample':>8}{'text MB':>10}{'near':>7}{'exact':>7}{'filler':>8}")
    for n, v in list(summary["sources"].items()) + [("TOTAL", summary["total"])]:
        log(f"{n:<14}{v['docs']:>8}{v['real_docs']:>8}{v['sample_docs']:>8}{v['text_mb']:>10.3f}"
            f"{v['near_dup']:>7}{v['exact_dup']:>7}{v['filler']:>8}")
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", required=True, type=Path, help="path to shared/data (e.g. ../shared/data)")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--target-mb", type=float, default=0.0,
                    help="pad with non-near-duplicate filler copies up to this many MB (1e6 bytes) of text; 0 = off")
    ap.add_argument("--sample-dir", type=Path, default=None,
                    help="also copy the project's sample records (<dir>/*.jsonl.gz) into the same-named outputs")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shard-mb", type=float, default=0.0,
                    help="split each source into files of about this many MB of text (<name>-00000.jsonl.gz, ...); "
                         "0 = one <name>.jsonl.gz per source")
    args = ap.parse_args(argv)
    if not args.shared.is_dir():
        print(f"shared data not found at {args.shared}", file=sys.stderr)
        return 2
    if args.target_mb < 0 or args.shard_mb < 0:
        ap.error("--target-mb and --shard-mb must be >= 0")
    build(args.shared, args.out, args.target_mb, args.sample_dir, args.seed, shard_mb=args.shard_mb)
    # The pipeline config for this corpus (source paths relative to the corpus directory).
    shutil.copyfile(CONFIG_TEMPLATE, args.out / "config.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
