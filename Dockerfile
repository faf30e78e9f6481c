# Custom Beam SDK container for Dataflow (Runner v2) and Flink: Beam 2.77 / Python 3.11 with this project,
# its dependencies and the default language-ID model baked in, so workers install nothing at start-up.
# Not built on the development machine (no Docker Hub access there); see README "Running on Dataflow / Flink".
#
#   docker build -t "$CURATE_IMAGE" . && docker push "$CURATE_IMAGE"
#
# The launcher must run the same code version as the image (and Beam 2.77.0, Python 3.11).
FROM apache/beam_python3.11_sdk:2.77.0

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CURATE_MODEL_DIR=/opt/curate/models

COPY pyproject.toml setup.py README.md /tmp/curate-src/
COPY pipeline /tmp/curate-src/pipeline
COPY transforms /tmp/curate-src/transforms
COPY tokenizer /tmp/curate-src/tokenizer
# apache-beam==2.77.0 is already in the base image (with its cloud I/O extras: gs://, s3://); the rest comes
# from PyPI. The import check runs from / so it sees the installed package, not the sources.
RUN pip install /tmp/curate-src && rm -rf /tmp/curate-src \
    && cd / && python -c "import pipeline.cli, transforms.langid, tokenizer.wrapper, fasttext, sentencepiece"

# lid.176.ftz into $CURATE_MODEL_DIR, sha256-checked (pipeline/models.py). `langid.model: null` resolves to
# this path when the launcher has CURATE_MODEL_DIR=/opt/curate/models too (README); a gs:// langid.model
# works with or without it.
RUN curate fetch-models

WORKDIR /opt/curate
# The base image's ENTRYPOINT (/opt/apache/beam/boot, the SDK worker boot) is kept unchanged.
