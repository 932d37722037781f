"""Expected facts for every recorded provider fixture (tests/fixtures/providers, copied from
../shared/fixtures/providers; INDEX.md there lists the raw usage fields these are derived from).

Usage is in semconv terms: Anthropic cache tokens added INTO input, Gemini thoughts added INTO output.
Keys: in, out, cache_read, cache_creation, reasoning (absent = provider did not say); error = (type, category).
"""

from __future__ import annotations

from typing import Any

EXPECTED: dict[str, dict[str, Any]] = {
    "anthropic/error_400_invalid_request_error": {"error": ("invalid_request_error", "validation")},
    "anthropic/error_404_not_found_error": {"error": ("not_found_error", "validation")},
    "anthropic/messages_nonstreaming": {"model": "claude-3-opus-20240229", "in": 17, "out": 220},
    "anthropic/messages_nonstreaming_cache_creation": {
        "model": "claude-3-5-sonnet-20240620", "in": 1167, "out": 187, "cache_creation": 1163, "cache_read": 0,
    },
    "anthropic/messages_nonstreaming_cache_read": {
        "model": "claude-3-5-sonnet-20240620", "in": 1167, "out": 202, "cache_creation": 0, "cache_read": 1163,
    },
    "anthropic/messages_streaming": {"model": "claude-3-haiku-20240307", "in": 17, "out": 171},
    "anthropic/messages_streaming_cache_creation": {
        "model": "claude-3-5-sonnet-20240620", "in": 1169, "out": 201, "cache_creation": 1165, "cache_read": 0,
    },
    "anthropic/messages_streaming_cache_read": {
        "model": "claude-3-5-sonnet-20240620", "in": 1169, "out": 221, "cache_creation": 0, "cache_read": 1165,
    },
    "anthropic/messages_thinking": {
        "model": "claude-3-7-sonnet-20250219", "in": 52, "out": 215, "cache_creation": 0, "cache_read": 0,
    },
    "anthropic/messages_tool_use": {"model": "claude-3-5-sonnet-20240620", "in": 514, "out": 152},
    "anthropic/messages_tool_use_streaming": {
        "model": "claude-3-5-sonnet-20240620", "in": 506, "out": 153, "cache_creation": 0, "cache_read": 0,
        "finish": ["tool_use"],
    },
    "azure_openai/chat_completions_content_filter": {
        "model": "gpt-35-turbo", "in": 15, "out": 19, "finish": ["content_filter"],
    },
    "azure_openai/chat_completions_nonstreaming": {
        "model": "gpt-4.1-mini-2025-04-14", "in": 16, "out": 35, "cache_read": 0, "reasoning": 0,
    },
    "azure_openai/chat_completions_streaming_no_usage": {"model": "gpt-4.1-mini-2025-04-14"},
    "azure_openai/embeddings": {"model": "text-embedding-3-large", "in": 8},
    "cohere/error_404_model_not_found": {"error": ("404", "validation")},
    "cohere/v2_chat_nonstreaming": {"model": None, "in": 7, "out": 88},
    "cohere/v2_chat_streaming": {"model": None, "in": 7, "out": 109, "finish": ["COMPLETE"]},
    "cohere/v2_embed": {"model": None, "in": 208},
    "gemini/error_401_vertex_unauthenticated": {"error": ("UNAUTHENTICATED", "auth")},
    "gemini/error_404_model_not_found": {"error": ("NOT_FOUND", "validation")},
    "gemini/error_429_resource_exhausted": {"error": ("RESOURCE_EXHAUSTED", "rate_limit")},
    "gemini/generate_content": {"model": "gemini-2.5-flash", "in": 5, "out": 1935, "reasoning": 1058},
    "gemini/stream_generate_content": {"model": "gemini-2.5-flash", "in": 18, "out": 115, "reasoning": 35},
    "gemini/vertex_generate_content": {"model": "gemini-2.5-flash", "in": 8, "out": 1910, "reasoning": 1477},
    "groq/chat_completions_nonstreaming": {"model": "llama3-8b-8192", "in": 18, "out": 43},
    "groq/error_400_tool_use_failed": {"error": ("tool_use_failed", "tool_error")},
    "groq/error_404_model_not_found": {"error": ("model_not_found", "validation")},
    "mistral/chat_completions_nonstreaming": {"model": "mistral-tiny", "in": 11, "out": 96},
    "mistral/chat_completions_streaming": {"model": "mistral-tiny", "in": 11, "out": 80},
    "mistral/embeddings": {"model": "mistral-embed", "in": 10, "out": 0},
    "ollama/api_chat_nonstreaming": {"model": "llama3", "in": 17, "out": 66},
    "ollama/api_chat_tool_calls": {"model": "llama3.1", "in": 44, "out": 113},
    "openai/chat_completions_nonstreaming": {
        "model": "gpt-4o-mini-2024-07-18", "in": 12, "out": 5, "cache_read": 0, "reasoning": 0,
    },
    "openai/chat_completions_nonstreaming_cached_tokens": {
        "model": "gpt-4o-mini-2024-07-18", "in": 1149, "out": 353, "cache_read": 1024, "reasoning": 0,
    },
    "openai/chat_completions_reasoning_tokens": {
        "model": "gpt-5-nano-2025-08-07", "in": 11, "out": 228, "cache_read": 0, "reasoning": 192,
    },
    "openai/chat_completions_streaming_include_usage": {
        "model": "gpt-4-0613", "in": 12, "out": 5, "cache_read": 0, "reasoning": 0, "finish": ["stop"],
    },
    "openai/chat_completions_streaming_no_usage": {"model": "gpt-4-0613"},
    "openai/chat_completions_tool_calls": {
        "model": "gpt-4o-mini-2024-07-18", "in": 75, "out": 51, "cache_read": 0, "reasoning": 0,
    },
    "openai/chat_completions_tool_calls_streaming": {
        "model": "gpt-4o-mini-2024-07-18", "in": 75, "out": 51, "cache_read": 0, "reasoning": 0,
    },
    "openai/embeddings": {"model": "text-embedding-3-small", "in": 8},
    "openai/error_400_unsupported_value": {"error": ("unsupported_value", "validation")},
    "openai/error_401_invalid_api_key": {"error": ("invalid_api_key", "auth")},
    "openai/error_404_model_not_found": {"error": ("model_not_found", "validation")},
    "openai/error_responses_400_invalid_param": {"error": ("decimal_below_min_value", "validation")},
    "openai/error_responses_400_model_not_found": {"error": ("model_not_found", "validation")},
    "openai/responses_nonstreaming": {
        "model": "gpt-4o-mini-2024-07-18", "in": 22, "out": 6, "cache_read": 0, "reasoning": 0,
    },
    "openai/responses_reasoning_tokens": {
        "model": "gpt-5.4-2026-03-05", "in": 44, "out": 288, "cache_read": 0, "reasoning": 9,
    },
    "openai/responses_streaming": {
        "model": "gpt-4o-mini-2024-07-18", "in": 22, "out": 6, "cache_read": 0, "reasoning": 0,
    },
    "openai/responses_streaming_reasoning_tokens": {
        "model": "gpt-5-2025-08-07", "in": 53, "out": 469, "cache_read": 0, "reasoning": 448,
    },
    "openai/responses_tool_call": {
        "model": "gpt-4o-mini-2024-07-18", "in": 72, "out": 8, "cache_read": 0, "reasoning": 0,
    },
}

PROVIDERS = {
    "anthropic": "anthropic",
    "azure_openai": "azure.ai.openai",
    "cohere": "cohere",
    "groq": "groq",
    "mistral": "mistral_ai",
    "ollama": "ollama",
    "openai": "openai",
}
