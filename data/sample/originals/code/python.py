# ruff: noqa  (a data file of snippets, not a module: imports sit at the top of each snippet)
# Python snippets for the embedded sample corpus.
# Original code written for this project; released under the project's licence (Apache-2.0).
# Each "# ==== snippet: <name> | topic: <topic>" line starts a snippet. Import lines at the top of a
# snippet are hoisted into the import block when scripts/make_sample.py composes a file from snippets.
# This file is data: it is not imported by the project and is not meant to be run as a module.

# ==== snippet: slugify | topic: text
import re
import unicodedata


def slugify(text: str, sep: str = "-") -> str:
    """Turn a title into a lowercase ASCII slug, e.g. "Crème Brûlée!" -> "creme-brulee"."""
    # Decompose accented letters and drop the combining marks.
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return sep.join(words)

# ==== snippet: truncate_words | topic: text
def truncate_words(text: str, limit: int, suffix: str = " [more]") -> str:
    """Cut text after `limit` words, keeping whole words only."""
    words = text.split()
    if len(words) <= limit:
        return text
    return " ".join(words[:limit]) + suffix

# ==== snippet: word_counts | topic: text
import re
from collections import Counter


def word_counts(text: str, top: int = 10) -> list[tuple[str, int]]:
    """The `top` most frequent words, ignoring case and punctuation."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    # Counter.most_common breaks ties by first appearance, which keeps the output stable.
    return Counter(words).most_common(top)

# ==== snippet: edit_distance | topic: text
def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance with a single row of memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ch_a in enumerate(a, start=1):
        current = [i]
        for j, ch_b in enumerate(b, start=1):
            cost = 0 if ch_a == ch_b else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]

# ==== snippet: chunked | topic: collections
from collections.abc import Iterable, Iterator


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Yield lists of at most `size` items; the last chunk may be shorter."""
    if size < 1:
        raise ValueError("size must be at least 1")
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

# ==== snippet: flatten | topic: collections
def flatten(nested):
    """Flatten arbitrarily nested lists and tuples into one flat list."""
    flat = []
    stack = [iter(nested)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, (list, tuple)):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            # The innermost iterator is exhausted: go back to its parent.
            stack.pop()
    return flat

# ==== snippet: group_by | topic: collections
from collections import defaultdict


def group_by(records, key):
    """Group records into a dict of lists by key(record), keeping input order inside each group."""
    groups = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return dict(groups)

# ==== snippet: unique_in_order | topic: collections
def unique_in_order(values):
    """Drop repeated values but keep the first occurrence of each, in order."""
    seen = set()
    result = []
    for value in values:
        if value not in seen:
            seen.add(value)
            result.append(value)
    return result

# ==== snippet: lru_cache_class | topic: collections
from collections import OrderedDict


class LruCache:
    """A small least-recently-used cache with a fixed capacity."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        if key not in self._data:
            return default
        self._data.move_to_end(key)  # mark as recently used
        return self._data[key]

    def put(self, key, value) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)  # evict the oldest entry

# ==== snippet: moving_average | topic: math
from collections import deque


def moving_average(values, window: int):
    """Yield the mean of the last `window` values once enough values have arrived."""
    recent = deque(maxlen=window)
    total = 0.0
    for value in values:
        if len(recent) == window:
            total -= recent[0]
        recent.append(value)
        total += value
        if len(recent) == window:
            yield total / window

# ==== snippet: median | topic: math
def median(values):
    """Median of a non-empty sequence of numbers."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of an empty sequence")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2

# ==== snippet: primes_up_to | topic: math
def primes_up_to(limit: int) -> list[int]:
    """All primes <= limit, using the sieve of Eratosthenes."""
    if limit < 2:
        return []
    is_prime = [True] * (limit + 1)
    is_prime[0] = is_prime[1] = False
    for n in range(2, int(limit**0.5) + 1):
        if is_prime[n]:
            # Multiples below n*n were already crossed out by smaller primes.
            for multiple in range(n * n, limit + 1, n):
                is_prime[multiple] = False
    return [n for n, flag in enumerate(is_prime) if flag]

# ==== snippet: roman_numeral | topic: math
_ROMAN = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(number: int) -> str:
    """Roman numeral for 1 <= number <= 3999."""
    if not 1 <= number <= 3999:
        raise ValueError(f"out of range: {number}")
    parts = []
    for value, symbol in _ROMAN:
        count, number = divmod(number, value)
        parts.append(symbol * count)
    return "".join(parts)

# ==== snippet: read_jsonl | topic: io
import json
from pathlib import Path


def read_jsonl(path: Path):
    """Yield one dict per non-blank line; report the line number of a bad record."""
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{line_number}: {err.msg}") from err

# ==== snippet: atomic_write | topic: io
import os
import tempfile


def atomic_write(path: str, data: bytes) -> None:
    """Write to a temporary file in the same directory, then rename it over `path`.

    Readers see either the old file or the new one, never a half-written file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise

# ==== snippet: file_sha256 | topic: io
import hashlib


def file_sha256(path: str, block_size: int = 1 << 16) -> str:
    """Hex SHA-256 of a file, read in blocks so large files do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()

# ==== snippet: parse_duration | topic: parsing
import re

_DURATION = re.compile(r"(\d+)\s*(h|m|s)")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as "1h 30m" or "45s"."""
    units = {"h": 3600, "m": 60, "s": 1}
    matches = _DURATION.findall(text.lower())
    if not matches:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(amount) * units[unit] for amount, unit in matches)

# ==== snippet: human_size | topic: parsing
def human_size(num_bytes: int) -> str:
    """Format a byte count with binary units, e.g. 1536 -> "1.5 KiB"."""
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"

# ==== snippet: parse_key_values | topic: parsing
def parse_key_values(text: str) -> dict[str, str]:
    """Parse "key = value" lines, skipping blank lines and comments that start with ';'."""
    settings = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"missing '=' in line: {raw!r}")
        settings[key.strip().lower()] = value.strip()
    return settings

# ==== snippet: retry | topic: misc
import functools
import time


def retry(times: int = 3, delay: float = 0.5, exceptions=(OSError,)):
    """Decorator: call the function again after a growing pause if it raises one of `exceptions`."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for attempt in range(1, times + 1):
                try:
                    return func(*args, **kwargs)
                except exceptions:
                    if attempt == times:
                        raise
                    time.sleep(delay * attempt)

        return wrapper

    return decorate

# ==== snippet: timer | topic: misc
import time
from contextlib import contextmanager


@contextmanager
def timer(label: str, report=print):
    """Context manager that reports how long the block took."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        report(f"{label}: {elapsed:.3f} s")
