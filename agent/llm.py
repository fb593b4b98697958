"""The LLM client: one chat completion through litellm, with retries and accounting.

Any model litellm reaches works: ``openai/gpt-4o``, ``anthropic/claude-...``, or a local
OpenAI-compatible server (``openai/NAME`` with ``api_base``). Keys come only from the
environment (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...), never from arguments or files.
litellm is imported on first use with ``LITELLM_LOCAL_MODEL_COST_MAP=True``, so importing it
fetches nothing. ``scripted/MODULE:FUNCTION`` models (:mod:`agent.scripted`) answer offline.

Every call records prompt and completion tokens, the cost in USD (``None`` where litellm has
no price for the model: an unpriced local model costs nothing we can know), the latency, the
number of attempts, and SHA-256 hashes of the request and of the response text.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from replay.errors import SpeedrunError
from replay.run.runlog import LLMCall

TRANSIENT = (
    "RateLimitError",
    "APIConnectionError",
    "Timeout",
    "ServiceUnavailableError",
    "InternalServerError",
    "BadGatewayError",
)


@dataclass(frozen=True)
class Completion:
    """A model's reply and the accounting of the call that produced it."""

    text: str
    call: LLMCall


def sha256_json(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def import_litellm():
    """litellm, imported without network access at import time and with its banners quiet."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        raise SpeedrunError("litellm is not installed: pip install -e '.[agent]' (make setup does)") from None

    litellm.suppress_debug_info = True
    from agent.scripted import register

    register(litellm)
    return litellm


@dataclass
class LLMClient:
    """Calls one model; transient errors are retried with exponential backoff."""

    model: str
    api_base: str | None = None
    temperature: float | None = None
    max_retries: int = 4
    backoff_s: float = 2.0
    timeout_s: float = 600.0
    sleep: object = field(default=time.sleep, repr=False)

    def check_environment(self) -> None:
        """Fail early, as one line, when the provider's key is not in the environment."""
        if self.model.startswith("scripted/"):
            return
        missing = import_litellm().validate_environment(self.model, api_base=self.api_base).get("missing_keys") or []
        if missing:
            local = " (a local server ignores the value: any string works)" if self.api_base else ""
            raise SpeedrunError(f"model {self.model} needs {', '.join(missing)} in the environment{local}")

    def complete(self, messages: list[dict]) -> Completion:
        litellm = import_litellm()
        params = {"model": self.model, "messages": messages, "timeout": self.timeout_s, "num_retries": 0}
        if self.api_base:
            params["api_base"] = self.api_base
        if self.temperature is not None:
            params["temperature"] = self.temperature
        request_hash = sha256_json({k: v for k, v in params.items() if k not in ("timeout", "num_retries")})
        errors: list[str] = []
        start = time.perf_counter()
        for attempt in range(1, self.max_retries + 2):
            try:
                response = litellm.completion(**params)
                break
            except Exception as exc:  # litellm maps every provider's errors onto its own classes
                name = type(exc).__name__
                if name not in TRANSIENT or attempt > self.max_retries:
                    raise SpeedrunError(f"model {self.model}: {name}: {_first_line(exc)}") from None
                errors.append(f"{name}: {_first_line(exc)}")
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
        latency = time.perf_counter() - start
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        return Completion(
            text,
            LLMCall(
                model=self.model,
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
                cost_usd=_cost(litellm, response, self.model),
                latency_s=round(latency, 3),
                request_sha256=request_hash,
                response_sha256=hashlib.sha256(text.encode()).hexdigest(),
                attempts=attempt,
                retried_errors=tuple(errors),
            ),
        )


def _cost(litellm, response, model: str) -> float | None:
    """The call's cost from litellm's local price map, or None for an unpriced model."""
    try:
        cost = litellm.completion_cost(completion_response=response, model=model)
    except Exception:  # litellm raises a variety of errors for models it cannot price
        return None
    return None if cost is None else float(cost)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""
