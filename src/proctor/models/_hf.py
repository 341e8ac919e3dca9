"""The `hf` provider: local Hugging Face transformers causal language models.

`get_model("hf/<local-folder-or-hub-id>", device="cpu")` loads the tokenizer and the model with
`AutoTokenizer` / `AutoModelForCausalLM`. torch and transformers are imported on the first call, never when
proctor itself is imported, so the provider costs nothing until it is used.

Sampling settings:
    - `temperature == 0` decodes greedily; every one of the `n` completions is then the same.
    - `temperature is None` samples with the model's own `generation_config.json` when it asks for sampling
      (`do_sample: true`, with its temperature, top_p and top_k); otherwise it samples from the plain model
      distribution (temperature 1, top_p 1, no top_k cut).
    - `temperature` / `top_p` given in `GenerateConfig` override either default.

Log-probabilities are those of the model's distribution at each position *before* temperature and top_p are
applied (after any penalty the model's generation config sets), so they are comparable across sampling
settings; the top `top_logprobs` are kept per position while generating rather than storing every position's
full vocabulary scores.

Tools (`GenerateConfig.tools`) need a chat template that renders them (one whose text mentions `tools`, as Qwen's,
Hermes' and Llama 3's do); they are passed to it as `function` tools, with the conversation's tool calls and tool
messages in the template's format. The calls a completion makes are read from its text: `<tool_call>{"name": ...,
"arguments": {...}}</tool_call>` blocks (Hermes/Qwen style), or else a whole reply that is one JSON object with a
`name` and `arguments` (or `parameters`), as Llama 3 writes them. Text outside the blocks stays the completion's text.
A call's `arguments` are the JSON text of the arguments the model wrote, re-serialized; a block that is not valid JSON
keeps the raw text the model wrote after `"arguments":`. Calls get ids `call_<i>`, their place in the completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctor.models._base import (
    Completion,
    GenerateConfig,
    Generation,
    Message,
    Model,
    ModelError,
    TokenLogprob,
    Tool,
    ToolCall,
    Usage,
    provider,
)

if TYPE_CHECKING:
    import torch


class HFModelError(ModelError):
    """A local Hugging Face model could not be loaded or run."""


@dataclass
class _Loaded:
    """A tokenizer and model loaded once per (path, device, dtype) and shared by every `HFModel` on it."""

    tokenizer: Any
    model: Any
    eos_ids: frozenset[int]
    pad_id: int


_cache: dict[tuple[str, str, str | None], _Loaded] = {}
_cache_lock = threading.Lock()
# torch's sampling RNG is process-wide: sampling calls hold this lock so a seeded call is not disturbed by a
# generation running in another thread.
_rng_lock = threading.Lock()

_ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)  # an unclosed block runs to the end


def render_prompt(tokenizer: Any, messages: list[Message], tools: list[Tool] | None = None) -> tuple[str, bool]:
    """Turn messages into the prompt text the model continues.

    Uses the tokenizer's chat template when it has one; otherwise a plain template, one line per message
    (`System: ...`, `User: ...`, `Assistant: ...`) ending in `Assistant:`.

    Args:
        tokenizer: A transformers tokenizer.
        messages: The conversation.
        tools: Tools to offer, rendered by the chat template.

    Returns:
        The prompt and whether it came from a chat template (whose text already holds any special tokens).

    Raises:
        HFModelError: tools are given and the tokenizer has no chat template that renders them.
    """
    if tools:
        _check_tool_template(tokenizer, tools)
    if getattr(tokenizer, "chat_template", None):
        chat = [_template_message(m) for m in messages]
        options: dict[str, Any] = {}
        if tools:
            options["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
        prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False, **options)
        return str(prompt), True
    lines = [f"{_ROLE_NAMES[m.role]}: {m.content}" for m in messages]
    lines.append("Assistant:")
    return "\n".join(lines), False


def _check_tool_template(tokenizer: Any, tools: list[Tool]) -> None:
    """Refuse a tokenizer whose chat template (the one used with tools) never mentions `tools`."""
    template = ""
    if getattr(tokenizer, "chat_template", None):
        with contextlib.suppress(ValueError):  # several named templates and no default
            template = str(tokenizer.get_chat_template(tools=tools))
    if "tools" not in template:
        raise HFModelError(
            f"{getattr(tokenizer, 'name_or_path', '') or 'this model'}: the model's chat template has no tool "
            "support; use the `tags` agent, which writes tool calls as text"
        )


def _template_message(message: Message) -> dict[str, Any]:
    """A message in the format chat templates read (tool calls with their arguments as an object)."""
    chat: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        chat["tool_calls"] = [
            {"type": "function", "id": c.id, "function": {"name": c.name, "arguments": _object(c.arguments)}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        chat["tool_call_id"] = message.tool_call_id
    return chat


def _object(arguments: str) -> dict[str, Any]:
    """A call's arguments as an object; `{}` when they are not a JSON object."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split a completion's text into the text outside its tool calls and the calls (see the module's docstring).

    Example:
        parse_tool_calls('On it. <tool_call>{"name": "ls", "arguments": {"path": "/"}}</tool_call>')
        # ("On it.", [ToolCall(id="call_0", name="ls", arguments='{"path": "/"}')])
    """
    blocks = _TOOL_CALL.findall(text)
    if blocks:
        return _TOOL_CALL.sub("", text).strip(), [_tool_call(i, block.strip()) for i, block in enumerate(blocks)]
    try:
        whole = json.loads(text)
    except ValueError:
        return text, []
    if isinstance(whole, dict) and isinstance(whole.get("name"), str) and ({"arguments", "parameters"} & whole.keys()):
        return "", [_tool_call(0, text.strip())]
    return text, []


def _tool_call(i: int, block: str) -> ToolCall:
    """The call written as `block`, a JSON object with a name and arguments (perhaps malformed)."""
    try:
        value = json.loads(block)
    except ValueError:
        value = None
    if isinstance(value, dict):
        arguments = value.get("arguments", value.get("parameters", {}))
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        return ToolCall(id=f"call_{i}", name=str(value.get("name") or ""), arguments=raw)
    # Not JSON: keep what the model wrote after "arguments", less the brace that closes the call's object.
    name = re.search(r'"name"\s*:\s*"([^"]*)"', block)
    start = re.search(r'"(?:arguments|parameters)"\s*:\s*', block)
    raw = block[start.end() :].rstrip() if start else block
    if start and raw.endswith("}") and raw.count("}") > raw.count("{"):
        raw = raw[:-1].rstrip()
    return ToolCall(id=f"call_{i}", name=name.group(1) if name else "", arguments=raw)


def _load(model: str, device: str, dtype: str | None, trust_remote_code: bool) -> _Loaded:
    """Load (or fetch from the in-process cache) the tokenizer and model named `model`."""
    path = Path(model).expanduser()
    local = path.exists()
    name = str(path.resolve()) if local else model
    key = (name, device, dtype)
    with _cache_lock:
        loaded = _cache.get(key)
        if loaded is not None:
            return loaded
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise HFModelError(
                f"the hf provider needs torch and transformers ({exc}): pip install 'proctor[hf]'"
            ) from exc
        torch_dtype: Any = dtype
        if dtype not in (None, "auto"):
            torch_dtype = getattr(torch, str(dtype), None)
            if not isinstance(torch_dtype, torch.dtype):
                raise HFModelError(f"unknown dtype {dtype!r}: use 'auto', 'float32', 'float16' or 'bfloat16'")
        try:
            tokenizer: Any = AutoTokenizer.from_pretrained(
                name, local_files_only=local, trust_remote_code=trust_remote_code
            )
            lm: Any = AutoModelForCausalLM.from_pretrained(
                name, local_files_only=local, trust_remote_code=trust_remote_code, dtype=torch_dtype
            )
            lm.to(device)
        except (OSError, ValueError, RuntimeError) as exc:
            raise HFModelError(
                f"could not load Hugging Face model {model!r} on {device!r}: {exc}. Pass a folder holding "
                "config.json, the weights and the tokenizer files (as written by save_pretrained), or a hub "
                "id this machine can download, and a device torch can use ('cpu', 'cuda', 'cuda:1', 'mps')."
            ) from exc
        lm.eval()
        eos = lm.generation_config.eos_token_id
        eos_ids = {eos} if isinstance(eos, int) else set(eos or [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(int(tokenizer.eos_token_id))
        pad = lm.generation_config.pad_token_id
        if pad is None:
            pad = tokenizer.pad_token_id
        if pad is None:
            pad = min(eos_ids) if eos_ids else 0
        loaded = _Loaded(tokenizer=tokenizer, model=lm, eos_ids=frozenset(eos_ids), pad_id=int(pad))
        _cache[key] = loaded
        return loaded


class _TopLogprobs:
    """A logits processor that records each step's top-k log-probabilities; scores pass unchanged."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.steps: list[tuple[torch.Tensor, torch.Tensor]] = []
        """Per generated position: (values, token ids), each (B, k)."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        logprobs = torch.log_softmax(scores.float(), dim=-1)  # (B, V)
        values, ids = logprobs.topk(min(self.k, logprobs.shape[-1]), dim=-1)  # (B, k)
        self.steps.append((values.cpu(), ids.cpu()))
        return scores


def _output_length(ids: list[int], eos_ids: frozenset[int], stop: list[str], tokenizer: Any) -> int:
    """How many generated tokens belong to the completion: up to the first end token or stop string."""
    length = len(ids)
    for i, token in enumerate(ids):
        if token in eos_ids:
            length = i + 1
            break

    def has_stop(k: int) -> bool:
        text = tokenizer.decode(ids[:k], skip_special_tokens=True)
        return any(s in text for s in stop)

    if stop and has_stop(length):
        # The shortest prefix that holds a stop string: the token that completed it ends the completion.
        low, high = 1, length
        while low < high:
            mid = (low + high) // 2
            if has_stop(mid):
                high = mid
            else:
                low = mid + 1
        length = low
    return length


def _cut(text: str, stop: list[str]) -> str:
    """Cut `text` at the earliest stop string."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


def _sampling_kwargs(config: GenerateConfig, model_samples: bool) -> dict[str, Any]:
    """The generate() keyword arguments for `config`'s temperature and top_p (see the module's docstring)."""
    if config.temperature == 0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    kwargs: dict[str, Any] = {"do_sample": True}
    if not model_samples:
        kwargs.update(temperature=1.0, top_p=1.0, top_k=0)
    if config.temperature is not None:
        kwargs["temperature"] = config.temperature
    if config.top_p is not None:
        kwargs["top_p"] = config.top_p
    return kwargs


class HFModel:
    """A local transformers causal language model.

    Example:
        model = get_model("hf/./my-model", device="cpu")
        generation = await model.generate([Message(role="user", content="hi")], GenerateConfig(n=2))
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        dtype: str | None = None,
        concurrency: int = 1,
        trust_remote_code: bool = False,
    ) -> None:
        """Name the model; it is loaded on the first `generate`.

        Args:
            model: A local folder written by `save_pretrained`, or a hub id (downloaded by transformers).
            device: The torch device to run on.
            dtype: Weight dtype (`"auto"`, `"float32"`, `"bfloat16"`, ...); None keeps transformers' default.
            concurrency: How many `generate` calls on this model may run at once.
            trust_remote_code: Let transformers run model code shipped with the checkpoint.
        """
        if concurrency < 1:
            raise HFModelError(f"concurrency must be at least 1, got {concurrency}")
        self.name = f"hf/{model}"
        self.model = model
        self.device = device
        self.dtype = dtype
        self.concurrency = concurrency
        self.trust_remote_code = trust_remote_code
        # asyncio semaphores belong to one event loop; keep one per loop this model is used from.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        return semaphore

    def load(self) -> None:
        """Load the tokenizer and weights now (blocking) rather than on the first `generate`.

        Raises:
            HFModelError: torch/transformers are missing or the model cannot be loaded.
        """
        _load(self.model, self.device, self.dtype, self.trust_remote_code)

    async def check(self, timeout: float) -> None:
        """A model named by a path (`/…`, `./…`, `~/…`) is a folder that exists, and torch and transformers are
        installed; the weights are not loaded (that is slow), so a broken checkpoint fails its first run.

        Raises:
            HFModelError: the folder or the libraries are missing.
        """
        if self.model.startswith(("/", ".", "~")) and not Path(self.model).expanduser().is_dir():
            raise HFModelError(
                f"{self.name}: no folder {self.model}: give a folder written by save_pretrained, or a hub id"
            )
        missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
        if missing:
            raise HFModelError(f"the hf provider needs {' and '.join(missing)}: pip install 'proctor[hf]'")

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        """Sample `config.n` completions for `messages` in a worker thread.

        Raises:
            HFModelError: the model cannot be loaded or generation fails.
        """
        start = time.monotonic()
        async with self._semaphore():
            generation = await asyncio.to_thread(self._generate, messages, config)
        generation.latency = time.monotonic() - start
        return generation

    def _generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        loaded = _load(self.model, self.device, self.dtype, self.trust_remote_code)
        tokenizer, lm = loaded.tokenizer, loaded.model
        prompt, templated = render_prompt(tokenizer, messages, config.tools)
        encoded = tokenizer(prompt, add_special_tokens=not templated, return_tensors="pt")
        input_ids = encoded["input_ids"].to(self.device)  # (1, T)
        prompt_len = int(input_ids.shape[1])
        kwargs = _sampling_kwargs(config, bool(lm.generation_config.do_sample))
        recorder = _TopLogprobs(config.top_logprobs) if config.logprobs and config.top_logprobs > 0 else None
        stop = [s for s in config.stop or [] if s]
        if stop:
            kwargs.update(stop_strings=stop, tokenizer=tokenizer)
        if recorder is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([recorder])
        try:
            import torch

            # Greedy decoding does not touch the RNG, so it need not wait for sampling calls.
            with _rng_lock if kwargs["do_sample"] else contextlib.nullcontext():
                if config.seed is not None:
                    torch.manual_seed(config.seed)
                sequences = lm.generate(
                    input_ids=input_ids.repeat(config.n, 1),  # (n, T): one row per completion
                    attention_mask=torch.ones_like(input_ids).repeat(config.n, 1),
                    max_new_tokens=config.max_tokens,
                    pad_token_id=loaded.pad_id,
                    **kwargs,
                )  # (n, T + steps)
        except (RuntimeError, ValueError) as exc:
            raise HFModelError(
                f"{self.name} failed to generate: {exc}. Check that the prompt plus max_tokens fits the "
                "model's context and that the sampling settings are valid."
            ) from exc
        completions: list[Completion] = []
        output_tokens = 0
        for row, generated in enumerate(sequences[:, prompt_len:].tolist()):
            length = _output_length(generated, loaded.eos_ids, stop, tokenizer)
            ids = generated[:length]
            output_tokens += length
            text = _cut(tokenizer.decode(ids, skip_special_tokens=True), stop)
            logprobs = self._logprobs(tokenizer, ids, recorder, row) if config.logprobs else None
            text, calls = parse_tool_calls(text) if config.tools else (text, [])
            completions.append(Completion(text=text, logprobs=logprobs, tool_calls=calls))
        return Generation(
            model=self.name,
            completions=completions,
            usage=Usage(input_tokens=prompt_len, output_tokens=output_tokens, cost=None),
        )

    @staticmethod
    def _logprobs(tokenizer: Any, ids: list[int], recorder: _TopLogprobs | None, row: int) -> list[TokenLogprob]:
        """One `TokenLogprob` per generated token of completion `row`, with decoded token strings."""
        result: list[TokenLogprob] = []
        for step, token in enumerate(ids):
            top: dict[str, float] = {}
            if recorder is not None:
                values, top_ids = recorder.steps[step]
                for value, top_id in zip(values[row].tolist(), top_ids[row].tolist(), strict=True):
                    if value != float("-inf"):
                        top.setdefault(tokenizer.decode([top_id]), value)
            result.append(TokenLogprob(token=tokenizer.decode([token]), top=top))
        return result


@provider("hf")
def hf(model: str, **options: Any) -> Model:
    """Build an `HFModel` for `get_model("hf/<folder-or-hub-id>", device=..., dtype=..., concurrency=...)`."""
    return HFModel(model, **options)
