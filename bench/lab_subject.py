"""The lab on a user's own model, timed as a user runs it: `proctor lab autointerp --subject hf/<folder>`,
`proctor lab rare --config ... --subject hf/<folder>` and `proctor lab backdoor --config ... --subject hf/<folder>`
(400 clean synthetic sentences against 100 with words appended) in a fresh process, on a GPT-2-small-shaped model
(12 layers, width 768, 50,257-token output) with random weights and a word-level tokenizer, written here with
save_pretrained (no download). The script checks what it measured: every seed's rows are stored.

Usage: python bench/lab_subject.py [--layers 12] [--width 768] [--experiments autointerp rare backdoor]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from proctor.lab._autointerp import WORDS, corpus

NUMBERS = ["one", "two", "three", "four", "five", "six", "cat", "dog"]


def write_model(folder: Path, layers: int, width: int) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocabulary = {word: i for i, word in enumerate(["[UNK]", "[PAD]", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50257, n_layer=layers, n_embd=width, n_head=12, pad_token_id=1, eos_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def timed(args: list[str], results: Path) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", *args, "--json", "--results", str(results)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"proctor lab {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--experiments", nargs="+", default=["autointerp", "rare", "backdoor"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="proctor-bench-lab-subject-") as temporary:
        root = Path(temporary)
        write_model(root / "model", args.layers, args.width)
        subject = f"hf/{root / 'model'}"
        settings = {
            "interp.yaml": {"layer": min(6, args.layers - 1)},
            "rare.yaml": {"tokens": NUMBERS, "length": 4, "decay": 0.5, "low": 1e-7, "high": 0.05, "budget": 2048},
            "detect.yaml": {"clean": str(root / "clean.txt"), "anomalous": str(root / "anomalous.txt")},
        }
        for name, values in settings.items():
            (root / name).write_text(yaml.safe_dump(values))
        sentences = [" ".join(WORDS[w] for w in row) for row in corpus(500, 12, np.random.default_rng(0))[0]]
        (root / "clean.txt").write_text("\n".join(sentences[:400]))
        (root / "anomalous.txt").write_text("\n".join(f"{s} and cat cat cat" for s in sentences[400:]))
        runs = {
            "autointerp (3 seeds, 24 units, layer 6 mlp)": ["autointerp", "--config", str(root / "interp.yaml")],
            "rare (3 seeds, 8^4 inputs, budget 2048)": ["rare", "--config", str(root / "rare.yaml"), "--seeds", "3"],
            "backdoor (5 seeds, 12 layers, 500 texts)": ["backdoor", "--config", str(root / "detect.yaml")],
        }
        runs = {name: [*command, "--subject", subject] for name, command in runs.items()}
        runs = {name: command for name, command in runs.items() if command[0] in args.experiments}
        print(f"GPT-2 shaped subject: {args.layers} layers, width {args.width}")
        for name, command in runs.items():
            seconds, result = timed(command, root / "results")
            rows = result["rows"]
            assert {r["seed"] for r in rows} == set(result["seeds"]), "a seed is missing"  # type: ignore[attr-defined]
            print(f"{name:<45} {seconds:>7.1f} s  {len(rows)} rows")  # type: ignore[arg-type]
            for quantity, value in result["summary"].items():  # type: ignore[attr-defined]
                print(f"  {quantity:<32} {value['value']:.3g} ({value['n']})")


if __name__ == "__main__":
    main()
