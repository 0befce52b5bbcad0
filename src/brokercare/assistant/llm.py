"""Optional drafting by an LLM behind any OpenAI-compatible ``/chat/completions`` endpoint.

Configured by ``BROKERCARE_LLM_URL`` (base URL, e.g. a vLLM or Ollama server) and
``BROKERCARE_LLM_MODEL``; without both, :func:`draft` returns None and nothing calls out. The model
only rephrases: it receives the templated reply, the knowledge-base passages and the tool facts,
and is told to add nothing else. Any failure (timeout, HTTP error, malformed answer) falls back to
the templated reply, and the compliance guard checks the draft like any other reply.
"""

from __future__ import annotations

import json
import logging

import httpx

from brokercare.core.settings import get_settings

log = logging.getLogger(__name__)

SYSTEM = (
    "你是一家持牌证券公司的客服助手。只根据给定的“参考答复”“知识库”和“客户数据”回答，"
    "用自然、简洁、有温度的中文改写参考答复，不要添加其中没有的事实、数字或产品。"
    "不得承诺收益或保本，不得建议买卖具体证券，不得透露任何其他客户的信息。"
)


def configured() -> bool:
    s = get_settings()
    return bool(s.llm_url and s.llm_model)


def draft(message: str, templated: str, *, knowledge: list[str], facts: dict, emotion: str) -> str | None:
    """The LLM's rephrasing of ``templated``, or None (not configured, or any failure)."""
    s = get_settings()
    if not (s.llm_url and s.llm_model):
        return None
    user = (
        f"客户情绪：{emotion}\n客户消息：{message}\n参考答复：{templated}\n"
        f"知识库：{json.dumps(knowledge, ensure_ascii=False)}\n客户数据：{json.dumps(facts, ensure_ascii=False, default=str)}"
    )
    body = {"model": s.llm_model, "temperature": 0.3, "max_tokens": 600,
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]}
    url = s.llm_url.rstrip("/")
    if not url.endswith("/chat/completions"):
        url += "/chat/completions"
    try:
        with httpx.Client(timeout=s.llm_timeout_s) as client:
            response = client.post(url, json=body)
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        log.warning("LLM draft failed, using the templated reply: %s", exc)
        return None
    text = (text or "").strip()
    return text or None
