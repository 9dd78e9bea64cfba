"""The openai-SDK provider against the real stub server over loopback."""

import pytest

from chatbot.llm import ChatMessage, ChatRequest, LLMError, OfflineResponder
from chatbot.llm.openai_provider import OpenAIProvider
from tests.stub_llm import CutStream, Error, Hang, MalformedJSON, Reply, Reset


def _provider(stub, read_timeout=2.0) -> OpenAIProvider:
    return OpenAIProvider(
        base_url=stub.base_url,
        api_key="sk-test",
        connect_timeout=1,
        read_timeout=read_timeout,
    )


REQUEST = ChatRequest(
    model="gpt-test",
    messages=[ChatMessage("system", "be nice"), ChatMessage("user", "hello?")],
    temperature=0.2,
    max_tokens=50,
    user="cust-1",
)


def test_streams_deltas_and_reports_usage(llm_stub):
    llm_stub.script(
        Reply(text="Hi there, how can I help?", chunks=4, prompt_tokens=11, completion_tokens=7)
    )
    deltas = []
    completion = _provider(llm_stub).stream(REQUEST, deltas.append)
    assert len(deltas) == 4 and "".join(deltas) == completion.text == "Hi there, how can I help?"
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, 7)
    assert completion.model == "gpt-test" and completion.finish_reason == "stop"
    sent = llm_stub.requests[0]
    assert sent.body["temperature"] == 0.2 and sent.body["max_tokens"] == 50
    assert sent.body["stream"] is True and sent.api_key == "sk-test"
    assert [m["role"] for m in sent.messages] == ["system", "user"]


def test_one_client_is_reused_per_endpoint(llm_stub):
    assert _provider(llm_stub)._client is _provider(llm_stub)._client


@pytest.mark.parametrize(
    "action,code,retryable",
    [
        (Error(status=429, retry_after=7), "rate_limited", True),
        (Error(status=503), "provider_error", True),
        (Error(status=401), "auth_failed", False),
        (Error(status=400, code="context_length_exceeded"), "context_length_exceeded", False),
        (Reset(), "connection_error", True),
        (MalformedJSON(), "malformed_response", True),
        (CutStream(text="partial answer that is cut", after_chunks=2), "stream_interrupted", True),
    ],
)
def test_failures_are_classified(llm_stub, action, code, retryable):
    llm_stub.script(action)
    with pytest.raises(LLMError) as caught:
        _provider(llm_stub).stream(REQUEST, lambda _t: None)
    assert caught.value.code == code and caught.value.retryable is retryable
    if code == "rate_limited":
        assert caught.value.retry_after == 7


def test_a_hang_times_out(llm_stub):
    llm_stub.script(Hang(seconds=5))
    with pytest.raises(LLMError) as caught:
        _provider(llm_stub, read_timeout=0.5).stream(REQUEST, lambda _t: None)
    assert caught.value.code == "timeout"


def _settings_provider():
    """The provider the router picks from settings when the catalogue is empty."""
    from accounts.selectors import ResolvedPreference
    from chatbot.routing.router import _provider
    from chatbot.routing.selectors import route_plan

    preference = ResolvedPreference(
        model="gpt-test", fallback_models=(), temperature=0, max_tokens=10, language="", persona=""
    )
    (hop,) = route_plan(customer=None, preference=preference)
    return _provider(hop)


@pytest.mark.django_db
def test_offline_responder_is_used_without_configuration(settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    provider = _settings_provider()
    assert isinstance(provider, OfflineResponder)
    deltas = []
    completion = provider.stream(REQUEST, deltas.append)
    assert completion.model == "offline-responder" and len(deltas) > 5
    assert "hello?" in completion.text and "offline" in completion.text


@pytest.mark.django_db
def test_configured_base_url_selects_the_openai_provider(settings, llm_stub):
    settings.OPENAI_BASE_URL = llm_stub.base_url
    assert isinstance(_settings_provider(), OpenAIProvider)
