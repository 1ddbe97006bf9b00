"""The network `qa reader train` trains: the encoder with its answer head and the span head.
Apart from train.py so that recover.py can build it too without importing the loop."""

from __future__ import annotations

from pathlib import Path

SPAN_FILE = "span_head.safetensors"
WEIGHTS_FILE = "model.safetensors"


def is_checkpoint(folder: Path) -> bool:
    """Whether `folder` holds a network `save_net` wrote (or any Hugging Face model folder)."""
    return (Path(folder) / WEIGHTS_FILE).is_file()


def save_net(model, tokenizer, folder: Path) -> None:
    """The encoder with its tokenizer, a complete sentence-transformers CrossEncoder folder,
    and the span head beside it in its own file."""
    from safetensors.torch import save_file

    model.encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_file({k: v.contiguous() for k, v in model.span.state_dict().items()}, str(Path(folder) / SPAN_FILE))


def reader_net(base_or_ckpt: Path):
    """The encoder with its answer head (a plain sequence-classification model, so the
    checkpoint also loads as a sentence-transformers CrossEncoder) and the span head."""
    import inspect

    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    class ReaderNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModelForSequenceClassification.from_pretrained(str(base_or_ckpt), num_labels=1)
            self.span = torch.nn.Linear(self.encoder.config.hidden_size, 2)
            if (base_or_ckpt / SPAN_FILE).is_file():
                self.span.load_state_dict(load_file(str(base_or_ckpt / SPAN_FILE)))
            # BERT-like encoders take segment ids; MPNet (a teacher, bases.py) has none.
            self.segments = "token_type_ids" in inspect.signature(self.encoder.forward).parameters

        def forward(self, input_ids, attention_mask, token_type_ids):
            extra = {"token_type_ids": token_type_ids} if self.segments else {}
            out = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=True,
                **extra,
            )
            ends = self.span(out.hidden_states[-1])
            return out.logits.squeeze(-1), ends[..., 0], ends[..., 1]

    return ReaderNet()
