"""A training checkpoint from an exported reader: the int8 ONNX weights dequantised back
into the PyTorch model `train.py` trains, so a later stage can start from the reader that
ships (`qa reader train --init qa-reader-minilm-l6-v2`) without the hours its first stage
took. The weights are the int8 ones, (q - zero point) × scale: the recovered model scores
within ~0.3 of a logit of the ONNX reader (which also quantises activations).

Only graphs `export.py` writes are understood: per-tensor dynamic quantisation of every
linear layer and embedding, the span head's layer last. Anything else is an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..answering.reader.onnx_reader import MODEL_FILE

EMBEDDINGS = ("word_embeddings", "token_type_embeddings", "position_embeddings")
TRANSPOSED = ("encoder.bert.pooler.dense.weight", "encoder.classifier.weight")


def onnx_weights(model_file: Path) -> dict[str, np.ndarray]:
    """The model's parameters by their PyTorch names, dequantised."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model_file)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def dequantised(base: str) -> np.ndarray:
        q = inits[base + "_quantized"].astype(np.float32)
        return (q - float(inits[base + "_zero_point"])) * float(inits[base + "_scale"])

    # Biases and layer norms stay float32 under their own names.
    weights = {n: a for n, a in inits.items() if a.dtype == np.float32 and a.ndim >= 1}
    for name in EMBEDDINGS:
        weights[f"encoder.bert.embeddings.{name}.weight"] = dequantised(f"encoder.bert.embeddings.{name}.weight")
    for name in TRANSPOSED:
        weights[name] = dequantised(name + "_Transposed").T
    # The exporter names the other linear layers' weights onnx::MatMul_N; the node's output
    # names the module ("/encoder/bert/encoder/layer.0/attention/self/query/MatMul_output_0…").
    for node in graph.node:
        if node.op_type == "MatMulInteger" and node.input[1].startswith("onnx::MatMul_"):
            module = node.output[0].lstrip("/").split("/MatMul")[0].replace("/", ".")
            weights[module + ".weight"] = dequantised(node.input[1].removesuffix("_quantized")).T
    return weights


def recover(reader_folder: Path, out: Path) -> Path:
    """Write `out` as a checkpoint folder (`train.py`'s format) holding the reader in `reader_folder`."""
    import json
    import shutil

    import torch
    from transformers import AutoTokenizer

    from ..answering.reader.onnx_reader import INFO_FILE
    from .bases import MINILM, base_path
    from .net import reader_net, save_net

    base = base_path(json.loads((Path(reader_folder) / INFO_FILE).read_text()).get("base", MINILM))
    model = reader_net(base)
    state = model.state_dict()
    weights = onnx_weights(Path(reader_folder) / MODEL_FILE)
    missing, extra = sorted(set(state) - set(weights)), sorted(set(weights) - set(state))
    if missing or extra:
        raise ValueError(f"{reader_folder}: not a reader qa exported (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, value in state.items():
        if weights[name].shape != tuple(value.shape):
            raise ValueError(f"{reader_folder}: {name} has shape {weights[name].shape}, expected {tuple(value.shape)}")
    model.load_state_dict({n: torch.from_numpy(np.array(w, dtype=np.float32)) for n, w in weights.items()})
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_net(model, AutoTokenizer.from_pretrained(str(base)), tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
