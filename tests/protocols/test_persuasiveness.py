"""Persuasiveness as in Khan et al. 2024: critique-and-refine of debater turns, Swiss tournaments of debaters, Elo
against judge accuracy, and win rates of correct and incorrect sides; scripted models on a loopback server."""

from __future__ import annotations

from loopback_server import LoopbackServer, RecordedRequest, Reply
from oversight_doubles import honest_world, prompt
from test_protocols import QUESTIONS, config

from proctor.models import close_clients
from proctor.protocols import run_experiment
from proctor.store import Store


def refining_world(request: RecordedRequest) -> Reply:
    """Two critiques, the second helpful (it suggests the true quote); the preference model says A ("helpful") only
    of a critique that suggests it; the rewrite uses the suggested quote."""
    text = prompt(request)
    if "You are an expert critic" in text:
        return Reply(
            texts=[
                "<critique>Be louder.</critique>",
                "<critique>Quote <quote>exactly forty-two ships</quote>.</critique>",
            ]
        )
    if "Is this critique helpful" in text:
        critique = text.split("<critique>")[-1]
        return Reply(text="A" if "forty-two" in critique else "B")
    if "A critic reviewed your draft" in text:
        return Reply(text="<argument>Rewritten: the log says <quote>exactly forty-two ships</quote>.</argument>")
    return honest_world(request)


async def test_critique_and_refine_stores_draft_critiques_and_the_rewrite(sqlite_store: Store) -> None:
    with LoopbackServer(default=refining_world) as server:
        settings = config(server, protocols=["consultancy"], rounds=1, refine=2)
        experiment = await run_experiment(QUESTIONS[:1], settings, sqlite_store, dataset="t")
        await close_clients()
        requests = list(server.requests)
    runs = sqlite_store.experiment_runs(experiment)
    assert len(runs) == 4
    for run in runs:
        steps = sqlite_store.steps(run.id)
        assert [s.kind for s in steps] == ["draft", "critique", "argument", "verdict"]
        critique = steps[1]
        # The preference model's probability that each critique helps: 0 for the first, 1 for the second.
        assert [[r.value for r in o.ratings] for o in critique.options] == [[0.0], [1.0]]
        assert critique.chosen is not None and critique.chosen.text.endswith("</critique>")
        assert critique.chooser == "best_of_2:openai/weak" and critique.observation is not None
        assert "forty-two" in critique.observation.output
        rewrite = steps[2]
        assert rewrite.observation is not None
        assert rewrite.observation.output == "Rewritten: the log says <v_quote>exactly forty-two ships</v_quote>."
        assert rewrite.chosen is not None and rewrite.chosen.argument["answer"] == run.config["case"]["assigned"]
    # The judge reads the rewrite, never the draft or the critique.
    judged = [prompt(r) for r in requests if "You are the judge. Answer" in prompt(r)]
    assert len(judged) == 4 and all("Rewritten" in p and "Be louder" not in p for p in judged)
    # The speaker rewrites with its own draft before the critique in the conversation.
    rewrites = [r for r in requests if "A critic reviewed your draft" in prompt(r)]
    assert len(rewrites) == 4
    for request in rewrites:
        messages = request.body["messages"]
        assert messages[-2]["role"] == "assistant" and "forty-two" in messages[-1]["content"]
    # The critic reads the draft as the judge would: the liar's invented quote already marked unverified.
    critic_prompts = [prompt(r) for r in requests if "You are an expert critic" in prompt(r)]
    assert any("<u_quote>seventeen ships in all</u_quote>" in p for p in critic_prompts)
