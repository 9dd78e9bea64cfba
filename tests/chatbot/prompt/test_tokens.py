"""Token counting: tiktoken from the encodings shipped in the repo, never the network."""

import hashlib
import shutil
import time
from pathlib import Path

import pytest
import tiktoken.load

from accounts.models import ModelPreference
from chatbot.prompt import tokens
from chatbot.prompt.tokens import TokenCount, count_tokens
from conversations.models import Message
from tests.factories import ConversationFactory
from tests.stub_llm import Reply


@pytest.fixture
def fresh_tokens():
    """Forget loaded encodings before and after (the test changes where they come from)."""
    for cached in (tokens._verified, tokens._encoding):
        cached.cache_clear()
    yield
    for cached in (tokens._verified, tokens._encoding):
        cached.cache_clear()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt by tiktoken to download fails the test loudly."""

    def refuse(blobpath):
        raise AssertionError(f"tiktoken tried to fetch {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", refuse)


def test_shipped_encoding_files_match_tiktokens_own_hashes(settings):
    from tiktoken_ext import openai_public  # the hashes tiktoken itself checks

    source = Path(openai_public.__file__).read_text()
    for name in ("o200k_base", "cl100k_base"):
        url, expected = tokens._SHIPPED[name]
        assert expected in source and url in source
        path = tokens.cache_file(name)
        assert path.name == hashlib.sha1(url.encode()).hexdigest()  # noqa: S324 - a cache key
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected


def test_counts_exactly_with_the_models_own_encoding_offline(fresh_tokens, no_network):
    assert count_tokens("hello world", "gpt-4o-mini") == TokenCount(2, False)  # o200k_base
    assert count_tokens("hello world", "gpt-4") == TokenCount(2, False)  # cl100k_base
    assert count_tokens("", "gpt-4o") == TokenCount(0, False)
    text = ("The quick brown fox jumps over the lazy dog. " * 100).strip()
    long = count_tokens(text, "gpt-4o")
    assert long.tokens == 1000 and not long.estimated


def test_provider_prefixed_model_names_resolve(fresh_tokens, no_network):
    assert count_tokens("hello world", "openai/gpt-4o") == TokenCount(2, False)


def test_unknown_models_use_the_default_encoding_flagged_estimated(fresh_tokens, no_network):
    count = count_tokens("hello world", "llama3.1:8b")
    assert count == TokenCount(2, True)


def test_special_token_text_from_a_customer_is_just_text(fresh_tokens, no_network):
    count = count_tokens("ignore this <|endoftext|> please", "gpt-4o")
    assert count.tokens > 3 and not count.estimated


def test_missing_files_fall_back_to_an_estimate_without_any_download(
    settings, tmp_path, fresh_tokens, no_network
):
    settings.TIKTOKEN_CACHE_DIR = str(tmp_path)  # empty: nothing shipped there
    started = time.monotonic()
    count = count_tokens("x" * 41, "gpt-4o")
    assert count == TokenCount(11, True)  # ceil(41 / 4)
    assert time.monotonic() - started < 1


def test_a_corrupt_file_is_not_used(settings, tmp_path, fresh_tokens, no_network):
    source = tokens.cache_file("o200k_base")
    shutil.copy(source, tmp_path / source.name)
    with open(tmp_path / source.name, "ab") as f:
        f.write(b"tampered")
    settings.TIKTOKEN_CACHE_DIR = str(tmp_path)
    assert count_tokens("hello world", "gpt-4o") == TokenCount(3, True)


def test_encodings_we_do_not_ship_are_estimated_not_downloaded(fresh_tokens, no_network):
    assert count_tokens("hello world", "text-davinci-003") == TokenCount(3, True)  # p50k


@pytest.mark.django_db
def test_each_message_is_counted_once_when_written(use_llm_stub, send_now, monkeypatch):
    counted: list[str] = []

    def spy(text, model):
        counted.append(text)
        return count_tokens(text, model)

    # Every place that may count a message's text (where it is written, and trimming).
    import chatbot.cost.limits
    import chatbot.prompt.trimming
    import chatbot.replies.lifecycle

    modules = (tokens, chatbot.cost.limits, chatbot.prompt.trimming, chatbot.replies.lifecycle)
    for module in modules:
        monkeypatch.setattr(module, "count_tokens", spy)
    conversation = ConversationFactory()
    ModelPreference.objects.create(user=conversation.customer, model="gpt-4o-mini")
    use_llm_stub.script(Reply(text="Your parcel ships tomorrow.", chunks=3))
    result = send_now(conversation, "Where is my parcel?")
    question = Message.objects.get(pk=result.message.id)
    reply = Message.objects.get(pk=result.reply.id)
    assert reply.status == "completed"
    assert (question.token_count, question.token_count_estimated) == (
        count_tokens("Where is my parcel?", "gpt-4o-mini").tokens,
        False,
    )
    assert reply.token_count == count_tokens("Your parcel ships tomorrow.", "gpt-4o-mini").tokens
    assert reply.token_count_estimated is False
    # A second turn builds its context from the stored counts: nothing is counted again.
    send_now(conversation, "And the tracking number?")
    assert counted.count("Where is my parcel?") == 1
    assert counted.count("Your parcel ships tomorrow.") == 1
