"""Every span attribute name otel-agent reads or writes, in one place.

Two families:

* OpenTelemetry semantic-convention names (GenAI and general), used wherever a name exists.
* Our own names for what semconv lacks (project, stage, role, trigger, cost, run state), all under the
  single ``otel_agent.`` namespace.

docs/attributes.md documents each of them; keep the two in step.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions (latest, Development status) -------------------------
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # metric attribute: input | output
GEN_AI_SYSTEM_LEGACY: Final = "gen_ai.system"  # before v1.37; read only (other instrumentations' spans)
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"  # bool: the call asked for a streamed response

# gen_ai.operation.name values
OP_CHAT: Final = "chat"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_RETRIEVAL: Final = "retrieval"
OP_CREATE_AGENT: Final = "create_agent"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
LLM_OPERATIONS: Final = frozenset({OP_CHAT, OP_GENERATE_CONTENT, OP_TEXT_COMPLETION, OP_EMBEDDINGS})
RUN_OPERATIONS: Final = frozenset({OP_INVOKE_AGENT, OP_INVOKE_WORKFLOW})

# --- General OpenTelemetry semantic conventions ----------------------------------------------------
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
SERVICE_NAME: Final = "service.name"  # resource attribute
HTTP_RESEND_COUNT: Final = "http.request.resend_count"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_STATUS_CODE_LEGACY: Final = "http.status_code"  # before semconv 1.21; httpx instrumentation still
HTTP_METHOD_LEGACY: Final = "http.method"
EXCEPTION_TYPE: Final = "exception.type"  # on the "exception" span event
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

# --- otel-agent's own namespace: what semconv lacks ------------------------------------------------
NS: Final = "otel_agent."

# Attribution, set by agent_run()/agent_step()/tool(), carried in baggage and copied onto every span
# inside a run by the start processor.
PROJECT: Final = "otel_agent.project"
STAGE: Final = "otel_agent.stage"
AGENT_ROLE: Final = "otel_agent.agent.role"
WORKSPACE: Final = "otel_agent.workspace"  # tenant for the operator API
TRIGGER_TYPE: Final = "otel_agent.trigger.type"  # user | schedule | webhook | agent | api | manual
TRIGGER_ID: Final = "otel_agent.trigger.id"  # who or what: a user id, schedule name, webhook id, run id
REQUEST_ID: Final = "otel_agent.request.id"  # the application's request / job id, to correlate with its logs
TAG_PREFIX: Final = "otel_agent.tag."  # free-form run tags: otel_agent.tag.style, otel_agent.tag.difficulty

# Run identity and state.
RUN: Final = "otel_agent.run"  # bool: the user marked this span as a run (besides invoke_agent/_workflow)
RUN_ID: Final = "otel_agent.run.id"  # 16-hex span id of the innermost enclosing run (on the run: its own)
RUN_PARENT_ID: Final = "otel_agent.run.parent_id"  # on a nested run: the enclosing run's id
RUN_ROOT_ID: Final = "otel_agent.run.root_id"  # the outermost run's id
RUN_STATUS: Final = "otel_agent.run.status"  # running | succeeded | failed | stalled | cancelled
RUN_STATUSES: Final = ("running", "succeeded", "failed", "stalled", "cancelled")

# In-flight markers: a zero-length child span of the run, emitted at run start and then periodically,
# so a run is visible (and can be declared stalled) before its own span ends. Any language can emit them.
MARKER: Final = "otel_agent.marker"  # run.start | run.heartbeat
MARKER_RUN_START: Final = "run.start"
MARKER_RUN_HEARTBEAT: Final = "run.heartbeat"
MARKER_SPAN_NAME: Final = "otel_agent.run.marker"
RUN_START_TIME: Final = "otel_agent.run.start_time_unix_nano"  # on markers: when the run began
RUN_NAME: Final = "otel_agent.run.name"  # on markers: the run span's name

# Cost, computed at span end from normalised usage.
COST_USD: Final = "otel_agent.cost.usd"
COST_INPUT_USD: Final = "otel_agent.cost.input_usd"
COST_OUTPUT_USD: Final = "otel_agent.cost.output_usd"
COST_CREDITS: Final = "otel_agent.cost.credits"  # the product's own unit (docs/budgets.md)
PRICE_SOURCE: Final = "otel_agent.price.source"  # genai-prices | price-file | unpriced
PRICE_SOURCE_GENAI_PRICES: Final = "genai-prices"
PRICE_SOURCE_FILE: Final = "price-file"
PRICE_SOURCE_UNPRICED: Final = "unpriced"
# Appended to the source when the response model (often dated: gpt-4o-mini-2024-08-06) had no price and
# the request model's price was used: "genai-prices:request_model".
PRICE_SOURCE_REQUEST_MODEL: Final = ":request_model"

# Data-quality notes: what could not be read, so odd input is visible rather than silently dropped.
USAGE_INVALID: Final = "otel_agent.usage.invalid"  # e.g. "negative input_tokens"
ENRICHMENT_ERROR: Final = "otel_agent.enrichment.error"  # a processor step failed; span went on unenriched
CAPTURE_ERROR: Final = "otel_agent.capture.error"  # the genai capture could not read a response
# The sampler dropped this span's trace: otel-agent recorded it for its tables, metrics and logs only, so it
# reached no OTLP (or other user) exporter. Absent on sampled spans (otel_agent/sampling.py).
TRACE_UNSAMPLED: Final = "otel_agent.trace.unsampled"
GENAI_SERVER: Final = "otel_agent.genai.server"  # the gateway / self-hosted server that answered

# Errors: our taxonomy beside semconv's error.type.
ERROR_CATEGORY: Final = "otel_agent.error.category"
ERROR_CATEGORIES: Final = (
    "rate_limit",
    "timeout",
    "context_length",
    "auth",
    "provider_error",
    "tool_error",
    "validation",
    "content_filter",
    "cancelled",
    "stalled",
    "budget",  # refused by an otel-agent budget before it was sent (docs/budgets.md)
    "unknown",
)
RETRY_ATTEMPT: Final = "otel_agent.retry.attempt"  # 0 for the first try
RETRY_AFTER_S: Final = "otel_agent.retry.after_s"  # provider's Retry-After, seconds

# Streams.
TIME_TO_FIRST_CHUNK_S: Final = "otel_agent.response.time_to_first_chunk_s"

# Metric and log attributes (otel_agent.metrics, otel_agent.logs). gen_ai.token.type values: semconv's
# input/output, plus our breakdowns of them (cache and reasoning tokens are INSIDE input/output).
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"
TOKEN_TYPE_CACHE_READ: Final = "cache_read"
TOKEN_TYPE_CACHE_CREATION: Final = "cache_creation"
TOKEN_TYPE_REASONING: Final = "reasoning"
COMPONENT: Final = "otel_agent.component"  # metric label: which part of our pipeline (sql_exporter, ...)
METRIC: Final = "otel_agent.metric"  # metric label on the overflow counter: which metric overflowed
EVENT_NAME: Final = "event.name"  # semconv log attribute: our run events are otel_agent.run.started, ...
SINK_TRANSPORT: Final = "otel_agent.sink.transport"  # sink metric label: grpc | http
SINK_REASON: Final = "otel_agent.sink.reason"  # sink metric label: why a request was refused whole

# Run roll-ups: the run span carries the totals of its descendants in this process.
ROLLUP_PREFIX: Final = "otel_agent.rollup."
ROLLUP_INPUT_TOKENS: Final = "otel_agent.rollup.input_tokens"
ROLLUP_OUTPUT_TOKENS: Final = "otel_agent.rollup.output_tokens"
ROLLUP_CACHE_READ_TOKENS: Final = "otel_agent.rollup.cache_read_tokens"
ROLLUP_CACHE_CREATION_TOKENS: Final = "otel_agent.rollup.cache_creation_tokens"
ROLLUP_REASONING_TOKENS: Final = "otel_agent.rollup.reasoning_tokens"
ROLLUP_COST_USD: Final = "otel_agent.rollup.cost_usd"
ROLLUP_COST_CREDITS: Final = "otel_agent.rollup.cost_credits"  # 0 when credits are off
ROLLUP_LLM_CALLS: Final = "otel_agent.rollup.llm_calls"
ROLLUP_TOOL_CALLS: Final = "otel_agent.rollup.tool_calls"
ROLLUP_ERRORS: Final = "otel_agent.rollup.errors"
ROLLUP_UNPRICED_CALLS: Final = "otel_agent.rollup.unpriced_calls"

# Baggage keys: the attribution that crosses threads, tasks and processes. Only these keys are read
# from incoming baggage and only they are sent, and only to hosts on the propagation allow-list.
BAGGAGE_KEYS: Final = (
    PROJECT,
    STAGE,
    AGENT_ROLE,
    WORKSPACE,
    TRIGGER_TYPE,
    TRIGGER_ID,
    GEN_AI_AGENT_NAME,
    GEN_AI_WORKFLOW_NAME,
    GEN_AI_CONVERSATION_ID,
    USER_ID,
    SESSION_ID,
    RUN_ID,
    RUN_ROOT_ID,
)

# --- Older and foreign spellings, read only (otel_agent.usage normalises them to the names above) ---
# Deprecated GenAI semconv (before v1.37 / v1.40).
GEN_AI_USAGE_PROMPT_TOKENS_LEGACY: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS_LEGACY: Final = "gen_ai.usage.completion_tokens"
# OpenInference (Arize Phoenix).
# LLM / TOOL are read as operations; AGENT spans, and CHAIN spans outside any run, are runs.
OI_SPAN_KIND: Final = "openinference.span.kind"
OI_REQUEST_MODEL_NAME: Final = "llm.request.model_name"
OI_MODEL_NAME: Final = "llm.model_name"
OI_PROVIDER: Final = "llm.provider"
OI_SYSTEM: Final = "llm.system"
OI_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
OI_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
OI_TOKEN_COUNT_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OI_TOKEN_COUNT_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OI_TOKEN_COUNT_REASONING: Final = "llm.token_count.completion_details.reasoning"
# OpenLLMetry (Traceloop).
TL_USAGE_PROMPT_TOKENS: Final = "llm.usage.prompt_tokens"
TL_USAGE_COMPLETION_TOKENS: Final = "llm.usage.completion_tokens"
TL_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read_input_tokens"
TL_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation_input_tokens"
TL_USAGE_REASONING_TOKENS: Final = "gen_ai.usage.reasoning_tokens"
TL_LLM_CACHE_READ_INPUT_TOKENS: Final = "llm.usage.cache_read_input_tokens"
TL_LLM_CACHE_CREATION_INPUT_TOKENS: Final = "llm.usage.cache_creation_input_tokens"
TL_LLM_REASONING_TOKENS: Final = "llm.usage.reasoning_tokens"
TL_RESPONSE_MODEL: Final = "llm.response.model"
TL_REQUEST_MODEL: Final = "llm.request.model"
TL_SPAN_KIND: Final = "traceloop.span.kind"  # workflow | task | agent | tool
