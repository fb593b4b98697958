"""Scripted models: offline stand-ins for an LLM, reached through litellm like any other model.

``--model scripted/MODULE:FUNCTION`` imports ``FUNCTION`` from ``MODULE`` and calls it with
the chat messages; the string it returns is the model's reply. It is registered as a litellm
custom provider, so a scripted run takes exactly the path a real one does (request, response
object, usage, cost lookup). Token counts are whitespace-separated words; the cost is unknown
(``None``), as for any unpriced model. A policy that takes a ``seed`` keyword gets the agent
run's seed (a real model's sampling differs between runs; a scripted one's differs by that).
Policies of different skill ship in :mod:`agent.policies`; the test suite's own (an exact
oracle, a model that writes broken edits, ...) live in ``tests/agent_policies.py``.
"""

from __future__ import annotations

import importlib
import inspect

PROVIDER = "scripted"


def load_policy(spec: str):
    """The callable named by ``MODULE:FUNCTION``."""
    from replay.errors import SpeedrunError

    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise SpeedrunError(f"scripted model '{spec}': use scripted/MODULE:FUNCTION")
    try:
        return getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise SpeedrunError(f"scripted model '{spec}': {exc}") from None


def register(litellm) -> None:
    """Add the ``scripted`` provider to litellm (once per process)."""
    if any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
        return

    class ScriptedLLM(litellm.CustomLLM):
        def completion(self, model, messages, *args, **kwargs):
            policy = load_policy(model)
            seed = (kwargs.get("optional_params") or {}).get("seed")
            takes_seed = "seed" in inspect.signature(policy).parameters
            text = policy(messages, seed=seed) if takes_seed else policy(messages)
            words = sum(len(str(m.get("content", "")).split()) for m in messages)
            return litellm.ModelResponse(
                model=f"{PROVIDER}/{model}",
                choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                usage=litellm.Usage(
                    prompt_tokens=words, completion_tokens=len(text.split()), total_tokens=words + len(text.split())
                ),
            )

    litellm.custom_provider_map = [
        *litellm.custom_provider_map,
        {"provider": PROVIDER, "custom_handler": ScriptedLLM()},
    ]
    # litellm reads its provider list when a call is routed; refresh it for the new entry.
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
