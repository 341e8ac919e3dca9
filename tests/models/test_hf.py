"""Integration tests of the `hf` provider on a tiny GPT-2 built here: a BPE tokenizer trained on a few lines and
random weights, both written with save_pretrained and loaded back through the provider's real loading code."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from proctor.models import GenerateConfig, Message, ModelError, Tool, ToolCall, get_model
from proctor.models._hf import HFModel, HFModelError, _load, _output_length, parse_tool_calls, render_prompt

CORPUS = [
    "System: You are terse.",
    "User: What is two plus two?",
    "Assistant: Four. The answer is 4, a small number.",
    "<|system|>rules <|user|>question <|assistant|>answer",
    "The quick brown fox jumps over the lazy dog; 0123456789 (ok)!",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
MESSAGES = [
    Message(role="system", content="You are terse."),
    Message(role="user", content="What is two plus two?"),
]


@dataclass
class TinyModels:
    """Folders holding the tiny model: one whose tokenizer has no chat template, one whose tokenizer has one."""

    plain: Path
    chat: Path
    tokenizer: PreTrainedTokenizerFast
    model: GPT2LMHeadModel


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    # Byte-level BPE over the corpus's own characters only (no 256-byte alphabet, no special tokens), so every
    # token decodes to ASCII text and the decoded tokens of a completion concatenate to its text.
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=160, show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=backend.get_vocab_size(),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=None,
        eos_token_id=None,
    )
    model = GPT2LMHeadModel(config)
    root = tmp_path_factory.mktemp("tiny-gpt2")
    for name, template in (("plain", None), ("chat", CHAT_TEMPLATE)):
        tokenizer.chat_template = template
        tokenizer.save_pretrained(root / name)
        model.save_pretrained(root / name)
    tokenizer.chat_template = None
    return TinyModels(plain=root / "plain", chat=root / "chat", tokenizer=tokenizer, model=model.eval())


def _hf(path: Path, **options: Any) -> HFModel:
    model = get_model(f"hf/{path}", device="cpu", **options)
    assert isinstance(model, HFModel)
    return model


def test_importing_proctor_registers_hf_without_importing_torch() -> None:
    code = (
        "import sys, proctor.models as m; "
        "print('hf' in m.providers(), 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


async def test_n_completions_respect_max_tokens_and_count_usage(tiny: TinyModels) -> None:
    model = _hf(tiny.plain)
    config = GenerateConfig(n=3, max_tokens=7, seed=1, logprobs=True)
    generation = await model.generate(MESSAGES, config)

    assert generation.model == f"hf/{tiny.plain}"
    assert len(generation.completions) == 3
    prompt = "System: You are terse.\nUser: What is two plus two?\nAssistant:"
    assert generation.usage.input_tokens == len(tiny.tokenizer(prompt)["input_ids"])
    # The model has no end token and no stop string was given: every completion runs to max_tokens.
    assert generation.usage.output_tokens == 3 * 7 <= config.n * config.max_tokens
    for completion in generation.completions:
        assert completion.logprobs is not None and len(completion.logprobs) == 7
        assert "".join(t.token for t in completion.logprobs) == completion.text
    assert generation.usage.cost is None
    assert generation.latency > 0


async def test_seed_makes_sampling_reproducible(tiny: TinyModels) -> None:
    model = _hf(tiny.plain)

    async def texts(seed: int) -> list[str]:
        generation = await model.generate(MESSAGES, GenerateConfig(n=2, max_tokens=12, seed=seed))
        return [c.text for c in generation.completions]

    first, again, other = await texts(7), await texts(7), await texts(8)
    assert first == again
    assert first != other
    # Sampling (temperature None) gives different completions within one call.
    assert first[0] != first[1]


async def test_temperature_zero_is_greedy(tiny: TinyModels) -> None:
    model = _hf(tiny.plain)
    config = GenerateConfig(n=2, max_tokens=10, temperature=0)
    one, two = await model.generate(MESSAGES, config), await model.generate(MESSAGES, config)
    texts = [c.text for c in one.completions + two.completions]
    assert len(set(texts)) == 1 and texts[0]


async def test_logprobs_are_valid_top_distributions(tiny: TinyModels) -> None:
    model = _hf(tiny.plain)
    config = GenerateConfig(max_tokens=6, temperature=0, logprobs=True, top_logprobs=5)
    generation = await model.generate(MESSAGES, config)

    logprobs = generation.completions[0].logprobs
    assert logprobs is not None and len(logprobs) == generation.usage.output_tokens == 6
    for position in logprobs:
        assert 1 <= len(position.top) <= 5
        assert all(value <= 0.0 for value in position.top.values())
        assert sum(math.exp(value) for value in position.top.values()) <= 1.0 + 1e-6
        # Greedy decoding picks the most likely token, so it heads its own top list.
        assert position.top[position.token] == max(position.top.values())


async def test_logprobs_match_a_forward_pass(tiny: TinyModels) -> None:
    model = _hf(tiny.plain)
    config = GenerateConfig(n=2, max_tokens=5, seed=3, logprobs=True, top_logprobs=3)
    generation = await model.generate(MESSAGES, config)

    tokenizer = tiny.tokenizer
    id_of = {tokenizer.decode([i]): i for i in range(len(tokenizer))}
    prompt = tokenizer("System: You are terse.\nUser: What is two plus two?\nAssistant:")["input_ids"]
    for completion in generation.completions:
        assert completion.logprobs is not None
        generated = [id_of[t.token] for t in completion.logprobs]
        with torch.no_grad():
            logits = tiny.model(torch.tensor([prompt + generated])).logits[0]  # (T, V)
        expected = torch.log_softmax(logits, dim=-1)[len(prompt) - 1 : -1].topk(3, dim=-1)  # (5, 3)
        for position, values, ids in zip(completion.logprobs, expected.values, expected.indices, strict=True):
            want = {tokenizer.decode([i]): v for i, v in zip(ids.tolist(), values.tolist(), strict=True)}
            assert position.top.keys() == want.keys()
            assert all(abs(position.top[k] - want[k]) < 1e-4 for k in want)


async def test_stop_string_cuts_text_and_ends_generation(tiny: TinyModels) -> None:
    model = _hf(tiny.plain)
    full = await model.generate(MESSAGES, GenerateConfig(max_tokens=12, temperature=0, logprobs=True))
    tokens = [t.token for t in full.completions[0].logprobs or []]
    stop = tokens[5]
    # The completion ends at the first token whose text completes the stop string.
    ends = next(k for k in range(1, len(tokens) + 1) if stop in "".join(tokens[:k]))

    stopped = await model.generate(
        MESSAGES, GenerateConfig(n=2, max_tokens=12, temperature=0, logprobs=True, stop=[stop])
    )
    text = full.completions[0].text
    for completion in stopped.completions:
        assert completion.text == text[: text.find(stop)]
        assert stop not in completion.text
        assert completion.logprobs is not None and len(completion.logprobs) == ends
    assert stopped.usage.output_tokens == 2 * ends < 2 * 12


async def test_chat_template_renders_the_prompt(tiny: TinyModels) -> None:
    model = _hf(tiny.chat)
    generation = await model.generate(MESSAGES, GenerateConfig(max_tokens=3, temperature=0))
    prompt = "<|system|>You are terse.\n<|user|>What is two plus two?\n<|assistant|>"
    expected = len(tiny.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert generation.usage.input_tokens == expected
    assert generation.usage.output_tokens == 3


async def test_generation_runs_off_the_event_loop(tiny: TinyModels) -> None:
    model = _hf(tiny.plain)
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await model.generate(MESSAGES, GenerateConfig(n=4, max_tokens=120, seed=0))
    done.set()
    await ticker
    assert ticks >= 5


def test_loaded_models_are_shared_per_path_and_device(tiny: TinyModels) -> None:
    first = _load(str(tiny.plain), "cpu", None, False)
    assert _load(str(tiny.plain), "cpu", None, False) is first
    assert _load(str(tiny.chat), "cpu", None, False) is not first


def test_output_length_stops_at_end_token(tiny: TinyModels) -> None:
    ids = tiny.tokenizer("Four. The answer")["input_ids"]
    assert _output_length([*ids, 99, 99], frozenset({99}), [], tiny.tokenizer) == len(ids) + 1
    assert _output_length(ids, frozenset(), ["answer"], tiny.tokenizer) == len(ids)
    assert _output_length(ids, frozenset(), ["Four"], tiny.tokenizer) < len(ids)


async def test_folder_without_a_model_raises_a_clear_error(tmp_path: Path) -> None:
    model = _hf(tmp_path)
    with pytest.raises(HFModelError, match="save_pretrained"):
        await model.generate(MESSAGES, GenerateConfig(max_tokens=2))


# A chat template that renders tools, tool calls (Hermes/Qwen style) and tool results, as tool-use templates do.
TOOL_TEMPLATE = (
    "{% if tools %}<|tools|>{% for t in tools %}{{ t.function.name }}: {{ t.function.description }} "
    "{{ t.function.parameters | tojson }}{{ '\n' }}{% endfor %}{% endif %}"
    "{% for m in messages %}<|{{ m.role }}|>{% if m.role == 'tool' %}[{{ m.tool_call_id }}] {% endif %}{{ m.content }}"
    '{% for c in m.tool_calls or [] %}<tool_call>{"id": "{{ c.id }}", "name": "{{ c.function.name }}", '
    '"arguments": {{ c.function.arguments | tojson }}}</tool_call>{% endfor %}{{ "\n" }}{% endfor %}'
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
WEATHER = Tool(
    name="weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
TOOLS = GenerateConfig(max_tokens=5, temperature=0, tools=[WEATHER])
ASK = [Message(role="user", content="Weather in Oslo?")]


@pytest.fixture
def speaker(tiny: TinyModels, tmp_path: Path) -> Callable[[str, str | None], Path]:
    """Builds a folder holding a model that answers every prompt with `reply`, then its end token: the reply is
    one added token, and a GPT-2 with no layers maps every other token to it and it to the end token."""

    def build(reply: str, template: str | None) -> Path:
        tokenizer = AutoTokenizer.from_pretrained(tiny.plain)
        tokenizer.add_tokens([reply])
        tokenizer.add_special_tokens({"eos_token": "<|end|>"})
        tokenizer.chat_template = template
        said, end = tokenizer.convert_tokens_to_ids(reply), tokenizer.eos_token_id
        config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=2, n_layer=0, n_head=1)
        config.tie_word_embeddings, config.eos_token_id = False, end
        model = GPT2LMHeadModel(config)
        with torch.no_grad():
            model.transformer.wpe.weight.zero_()
            model.transformer.wte.weight[:] = torch.tensor([1.0, -1.0])  # (V, 2): "any other token"
            model.transformer.wte.weight[said] = torch.tensor([-1.0, 1.0])  # "the reply"
            model.lm_head.weight.zero_()
            model.lm_head.weight[said] = torch.tensor([10.0, -10.0])  # after any other token: the reply
            model.lm_head.weight[end] = torch.tensor([-10.0, 10.0])  # after the reply: the end
        folder = tmp_path / f"speaker-{len(list(tmp_path.iterdir()))}"
        tokenizer.save_pretrained(folder)
        model.save_pretrained(folder)
        return folder

    return build


def test_tools_and_tool_messages_are_rendered_by_the_chat_template(tiny: TinyModels) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny.plain)
    tokenizer.chat_template = TOOL_TEMPLATE
    calls = [
        ToolCall(id="call_a", name="weather", arguments='{"city": "Oslo", "days": [1, 2]}'),
        ToolCall(id="call_b", name="weather", arguments='{"city": '),  # malformed: rendered as {}
    ]
    conversation = [
        *ASK,
        Message(role="assistant", content="Two cities.", tool_calls=calls),
        Message(role="tool", content="rain", tool_call_id="call_a"),
        Message(role="tool", content="error: bad arguments", tool_call_id="call_b"),
    ]

    prompt, templated = render_prompt(tokenizer, conversation, [WEATHER])

    assert templated
    assert prompt == (
        '<|tools|>weather: The weather in a city. {"type": "object", "properties": {"city": {"type": "string"}}}\n'
        "<|user|>Weather in Oslo?\n"
        '<|assistant|>Two cities.<tool_call>{"id": "call_a", "name": "weather", "arguments": '
        '{"city": "Oslo", "days": [1, 2]}}</tool_call>'
        '<tool_call>{"id": "call_b", "name": "weather", "arguments": {}}</tool_call>\n'
        "<|tool|>[call_a] rain\n"
        "<|tool|>[call_b] error: bad arguments\n"
        "<|assistant|>"
    )
    assert "<|tools|>" not in render_prompt(tokenizer, conversation)[0]  # no tools offered, none rendered


async def test_a_tool_call_in_the_generated_text_is_parsed(speaker: Callable[[str, str | None], Path]) -> None:
    folder = speaker('Sure. <tool_call>{"name": "weather", "arguments": {"city": "Oslo"}}</tool_call>', TOOL_TEMPLATE)
    model = _hf(folder)

    generation = await model.generate(ASK, TOOLS)

    (completion,) = generation.completions
    assert completion.text == "Sure."
    assert completion.tool_calls == [ToolCall(id="call_0", name="weather", arguments='{"city": "Oslo"}')]
    assert generation.usage.output_tokens == 2  # the reply, then the end token
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompt = render_prompt(tokenizer, ASK, [WEATHER])[0]
    assert prompt.startswith("<|tools|>weather: The weather in a city.")
    assert generation.usage.input_tokens == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])


async def test_without_tools_the_text_is_left_alone(speaker: Callable[[str, str | None], Path]) -> None:
    reply = '<tool_call>{"name": "weather", "arguments": {}}</tool_call>'
    model = _hf(speaker(reply, TOOL_TEMPLATE))

    completion = (await model.generate(ASK, GenerateConfig(max_tokens=5, temperature=0))).completions[0]

    assert (completion.text, completion.tool_calls) == (reply, [])


async def test_a_whole_json_reply_is_one_call(speaker: Callable[[str, str | None], Path]) -> None:
    model = _hf(speaker('{"name": "weather", "parameters": {"city": "Lima"}}', TOOL_TEMPLATE))

    completion = (await model.generate(ASK, TOOLS)).completions[0]

    assert completion.text == ""
    assert completion.tool_calls == [ToolCall(id="call_0", name="weather", arguments='{"city": "Lima"}')]


async def test_calls_round_trip_through_the_history(speaker: Callable[[str, str | None], Path]) -> None:
    reply = (
        '<tool_call>{"name": "weather", "arguments": {"city": "Oslo"}}</tool_call>\n'
        '<tool_call>{"name": "weather", "arguments": {"city": "Rome", "days": 2}}</tool_call>'
    )
    folder = speaker(reply, TOOL_TEMPLATE)
    completion = (await _hf(folder).generate(ASK, TOOLS)).completions[0]
    assert [c.id for c in completion.tool_calls] == ["call_0", "call_1"]

    history = [
        *ASK,
        Message(role="assistant", content=completion.text, tool_calls=completion.tool_calls),
        *(Message(role="tool", content="sunny", tool_call_id=c.id) for c in completion.tool_calls),
    ]
    prompt = render_prompt(AutoTokenizer.from_pretrained(folder), history, [WEATHER])[0]

    # The calls come back as the model wrote them, each with its id, and each result names its call.
    assert '<tool_call>{"id": "call_0", "name": "weather", "arguments": {"city": "Oslo"}}</tool_call>' in prompt
    assert '{"id": "call_1", "name": "weather", "arguments": {"city": "Rome", "days": 2}}' in prompt
    assert prompt.endswith("<|tool|>[call_0] sunny\n<|tool|>[call_1] sunny\n<|assistant|>")


@pytest.mark.parametrize("folder", ["plain", "chat"])
async def test_a_chat_template_without_tools_is_refused(tiny: TinyModels, folder: str) -> None:
    model = _hf(getattr(tiny, folder))

    with pytest.raises(ModelError, match=r"chat template has no tool support; use the `tags` agent") as error:
        await model.generate(MESSAGES, GenerateConfig(max_tokens=2, tools=[WEATHER]))
    assert isinstance(error.value, HFModelError)
    assert "\n" not in str(error.value)
    # Without tools the same model still answers.
    assert (await model.generate(MESSAGES, GenerateConfig(max_tokens=2))).usage.output_tokens == 2


@pytest.mark.parametrize(
    ("text", "expected_text", "expected_calls"),
    [
        ("No tool needed.", "No tool needed.", []),
        ('{"answer": 4}', '{"answer": 4}', []),  # JSON, but no call
        (
            'A <tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call> B\n<tool_call>{"name": "b"}</tool_call>',
            "A  B",
            [("call_0", "a", '{"x": 1}'), ("call_1", "b", "{}")],
        ),
        # Malformed JSON keeps what the model wrote as the arguments.
        ('<tool_call>{"name": "a", "arguments": {"x": 1,,}}</tool_call>', "", [("call_0", "a", '{"x": 1,,}')]),
        ('<tool_call>{"name": "a", "arguments": {"x": "unclosed', "", [("call_0", "a", '{"x": "unclosed')]),
        ("<tool_call>not json at all</tool_call>", "", [("call_0", "", "not json at all")]),
        ('{"name": "a", "arguments": "{\\"x\\": 1}"}', "", [("call_0", "a", '{"x": 1}')]),  # arguments as text
    ],
)
def test_tool_calls_are_parsed_from_text(text: str, expected_text: str, expected_calls: list[tuple[str, ...]]) -> None:
    parsed_text, calls = parse_tool_calls(text)

    assert parsed_text == expected_text
    assert [(c.id, c.name, c.arguments) for c in calls] == expected_calls
