"""The lab's experiments on a user's own model: a local Hugging Face causal language model named `hf/<folder>`,
loaded by the `hf` provider's loader (no training; weights are only read).

- `layer_output(...)`: per word of each sentence, the activations of one layer's MLP neurons (the input of the
  MLP's output projection: GPT-2's `c_proj`, Llama's `down_proj`, GPT-NeoX's `dense_4h_to_h`, …) or of its residual
  stream (the block's output), read with forward hooks; a word's value is the maximum over its tokens.
- `OneHotSubject`: the model as the rare-event experiment sees it: inputs are one-hot vectors over a small token set
  (turned into `inputs_embeds`, so gradients reach them), outputs are the logits of the candidate output tokens
  plus one more column, the largest logit of every other token (so the argmax over the row is a candidate exactly
  when it is the model's argmax over its whole vocabulary).
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np
from numpy.typing import NDArray

from proctor.lab._common import LabError

OUTPUT_PROJECTIONS = ("c_proj", "down_proj", "dense_4h_to_h", "fc2", "fc_out", "w2", "wo")


def last_logits_only(model: Any) -> dict[str, Any]:
    """`{"logits_to_keep": 1}` when the model takes it (transformers' causal LMs do): the output layer then runs on
    the last position only, which on a 50k-token vocabulary is most of a small model's work."""
    import inspect

    return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def load_subject(subject: str, device: str) -> Any:
    """The tokenizer and model of `hf/<folder-or-hub-id>` (the `hf` provider's cached loader).

    Raises:
        LabError: `subject` is not an `hf/` name, or the model cannot be loaded.
    """
    from proctor.models import ModelError

    if not subject.startswith("hf/") or subject == "hf/":
        raise LabError(f"subject: a lab subject is a local Hugging Face model, hf/<folder>; got {subject!r}")
    from proctor.models._hf import _load

    try:
        return _load(subject.removeprefix("hf/"), device, None, False)
    except ModelError as error:
        raise LabError(f"subject: {error}") from None


def blocks(model: Any) -> Any:
    """The model's transformer blocks: the largest `ModuleList` whose length is its number of layers."""
    from torch import nn

    count = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    found = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == count]
    if not found:
        raise LabError(f"subject: cannot find the {count} transformer blocks of a {type(model).__name__}")
    return found[0]


def hook_site(model: Any, layer: int, site: str) -> tuple[Any, bool]:
    """The module to hook and whether to read its input (MLP neurons) rather than its output (residual)."""
    layers = blocks(model)
    if not -len(layers) <= layer < len(layers):
        raise LabError(f"layer: the subject has {len(layers)} layers (0 … {len(layers) - 1}); got {layer}")
    block = layers[layer]
    if site == "residual":
        return block, False
    for name, module in block.named_modules():
        if name.split(".")[-1] in OUTPUT_PROJECTIONS and ("mlp" in name or "feed_forward" in name):
            return module, True
    raise LabError(
        f"site: cannot find the MLP output projection ({', '.join(OUTPUT_PROJECTIONS)}) in layer {layer} of a "
        f"{type(model).__name__}; use site: residual"
    )


def word_activations(
    loaded: Any, sentences: list[list[str]], layer: int, site: str, batch: int = 16
) -> NDArray[np.float64]:
    """`(N, T, units)`: per sentence of T words (joined by spaces), per word, the maximum over its tokens of the
    chosen layer's MLP neurons or residual dimensions.

    Raises:
        LabError: the tokenizer gives no character offsets, or a word gets no token.
    """
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    if not getattr(tokenizer, "is_fast", False):
        raise LabError("subject: the tokenizer must be a fast one (with character offsets) to find each word's tokens")
    module, read_input = hook_site(model, layer, site)
    seen: list[Any] = []

    def keep(_module: Any, args: Any, output: Any) -> None:
        value = args[0] if read_input else output
        seen.append((value[0] if isinstance(value, tuple) else value).detach())

    handle = module.register_forward_hook(keep)
    keep_last = last_logits_only(model)
    device = next(model.parameters()).device
    result: list[NDArray[np.float64]] = []
    try:
        for start in range(0, len(sentences), batch):
            chunk = sentences[start : start + batch]
            texts = [" ".join(words) for words in chunk]
            encoded = tokenizer(texts, return_offsets_mapping=True, padding=False)
            ids = encoded["input_ids"]
            longest = max(len(i) for i in ids)
            padded = torch.full((len(ids), longest), loaded.pad_id, dtype=torch.long)
            mask = torch.zeros((len(ids), longest), dtype=torch.long)
            for row, token_ids in enumerate(ids):
                padded[row, : len(token_ids)] = torch.tensor(token_ids)
                mask[row, : len(token_ids)] = 1
            seen.clear()
            with torch.no_grad():
                model(input_ids=padded.to(device), attention_mask=mask.to(device), **keep_last)
            acts = seen[-1].double().cpu().numpy()  # (B, L, units)
            for row, words in enumerate(chunk):
                starts = np.cumsum([0, *(len(w) + 1 for w in words[:-1])]).tolist()
                out = np.full((len(words), acts.shape[-1]), -np.inf)
                for position, (begin, end) in enumerate(encoded["offset_mapping"][row]):
                    if end <= begin:
                        continue  # a special token
                    word = bisect.bisect_right(starts, begin) - 1
                    out[word] = np.maximum(out[word], acts[row, position])
                if np.isinf(out).any():
                    missing = words[int(np.flatnonzero(np.isinf(out).any(axis=1))[0])]
                    raise LabError(f"subject: the tokenizer gives no token for the word {missing!r}")
                result.append(out)
    finally:
        handle.remove()
    return np.stack(result)


def token_ids(loaded: Any, words: list[str], what: str) -> list[int]:
    """The id of each word, each of which must be exactly one token of the subject's tokenizer.

    Raises:
        LabError: a word is several tokens (or none), naming it.
    """
    ids = []
    for word in words:
        found = loaded.tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(found) != 1:
            raise LabError(f"{what}: {word!r} is {len(found)} tokens of the subject's tokenizer, not one")
        ids.append(int(found[0]))
    return ids


def default_tokens(loaded: Any, count: int) -> list[str]:
    """The tokens with ids 0 … count−1, as text."""
    return [str(loaded.tokenizer.convert_ids_to_tokens(i)) for i in range(count)]


def one_hot_subject(loaded: Any, inputs: list[int], outputs: list[int], prefix: list[int], chunk: int = 512) -> Any:
    """The rare-event experiment's view of a real model (see the module docstring)."""
    import torch
    from torch import nn

    lm = loaded.model
    device = next(lm.parameters()).device
    table = lm.get_input_embeddings().weight.detach()
    input_table = table[torch.tensor(inputs, device=device)]  # (S, C)
    prefix_embeds = table[torch.tensor(prefix, device=device, dtype=torch.long)]  # (P, C)
    chosen = torch.tensor(outputs, device=device)
    size = len(inputs)
    keep_last = last_logits_only(lm)

    class OneHotSubject(nn.Module):  # type: ignore[misc]
        def forward_onehot(self, onehot: torch.Tensor) -> torch.Tensor:  # (B, T, S) -> (B, outputs + 1)
            parts = []
            for start in range(0, onehot.shape[0], chunk):
                part = onehot[start : start + chunk].to(device=device, dtype=input_table.dtype)
                embeds = part @ input_table
                if len(prefix):
                    embeds = torch.cat([prefix_embeds.expand(len(part), -1, -1), embeds], dim=1)
                logits = lm(inputs_embeds=embeds, **keep_last).logits[:, -1].float()
                rest = torch.ones(logits.shape[1], dtype=torch.bool, device=device)
                rest[chosen] = False
                others = logits[:, rest].max(dim=1, keepdim=True).values
                parts.append(torch.cat([logits[:, chosen], others], dim=1).cpu())
            return torch.cat(parts)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, outputs + 1)
            return self.forward_onehot(nn.functional.one_hot(tokens, size).float())

    return OneHotSubject()


def last_token_residuals(loaded: Any, texts: list[str], layers: list[int], batch: int = 16) -> dict[int, Any]:
    """Per chosen layer, `(N, width)`: the residual stream after that layer at each text's last token."""
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    found = blocks(model)
    for layer in layers:
        if not -len(found) <= layer < len(found):
            raise LabError(f"layers: the subject has {len(found)} layers (0 … {len(found) - 1}); got {layer}")
    seen: dict[int, Any] = {}

    def keeper(layer: int) -> Any:
        def keep(_module: Any, _args: Any, output: Any) -> None:
            seen[layer] = (output[0] if isinstance(output, tuple) else output).detach()

        return keep

    handles = [found[layer].register_forward_hook(keeper(layer)) for layer in layers]
    keep_last = last_logits_only(model)
    device = next(model.parameters()).device
    result: dict[int, list[Any]] = {layer: [] for layer in layers}
    try:
        for start in range(0, len(texts), batch):
            ids = tokenizer(texts[start : start + batch])["input_ids"]
            if any(len(i) == 0 for i in ids):
                raise LabError("subject: a text has no tokens")
            longest = max(len(i) for i in ids)
            padded = torch.full((len(ids), longest), loaded.pad_id, dtype=torch.long)
            mask = torch.zeros((len(ids), longest), dtype=torch.long)
            for row, token_ids in enumerate(ids):
                padded[row, : len(token_ids)] = torch.tensor(token_ids)
                mask[row, : len(token_ids)] = 1
            with torch.no_grad():
                model(input_ids=padded.to(device), attention_mask=mask.to(device), **keep_last)
            last = torch.tensor([len(i) - 1 for i in ids])
            for layer in layers:
                result[layer].append(seen[layer][torch.arange(len(ids)), last.to(device)].double().cpu().numpy())
    finally:
        for handle in handles:
            handle.remove()
    return {layer: np.concatenate(parts) for layer, parts in result.items()}
