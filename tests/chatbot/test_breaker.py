"""The circuit breaker: per endpoint, state in Redis, shared by every worker process.

In-process tests drive the real reply flow against the stub; the last ones run two real
Celery worker processes and prove one worker obeys a circuit another opened, and that
only one probe crosses the whole fleet after the cool-down.
"""

import threading
import time

import pytest

from chatbot.replies.pipeline import reply_generate
from chatbot.replies.turn import turn_start
from chatbot.routing.breaker import Decision, State, breaker_for
from chatbot.routing.selectors import endpoint_breaker_key
from tests.factories import ConversationFactory
from tests.stub_llm import Error, Reply

from .routing_helpers import endpoint, ledger, model, pending_reply, prefer, wait_for_reply

BREAKER = {
    "LLM_BREAKER_FAILURE_THRESHOLD": 3,
    "LLM_BREAKER_WINDOW_SECONDS": 30,
    "LLM_BREAKER_COOLDOWN_SECONDS": 30,
    "LLM_MAX_RETRIES": 0,
}


@pytest.fixture
def breaker_settings(settings, use_llm_stub):
    for key, value in BREAKER.items():
        setattr(settings, key, value)
    return settings


def settings_circuit():
    from chatbot.routing.selectors import _settings_hop

    return breaker_for(_settings_hop("any").endpoint_key)


def fail_replies(stub, n: int) -> None:
    stub.script(Error(status=500), times=n)
    for _ in range(n):
        assert reply_generate(reply_id=pending_reply().id).error_code == "provider_error"


@pytest.mark.django_db
def test_the_circuit_opens_after_n_failures_and_then_no_call_is_sent(breaker_settings, llm_stub):
    fail_replies(llm_stub, 2)
    assert settings_circuit().state() == State.CLOSED
    fail_replies(llm_stub, 1)  # the third failure within the window opens it
    assert settings_circuit().state() == State.OPEN
    assert len(llm_stub.requests) == 3

    for _ in range(3):
        reply = pending_reply()
        started = time.monotonic()
        done = reply_generate(reply_id=reply.id)
        elapsed = time.monotonic() - started
        assert done.status == "failed" and done.error_code == "all_providers_unavailable"
        assert elapsed < 1.0  # at once: no timeout is waited for (read timeout is 30 s)
        assert ledger(reply) == [("gpt-4o-mini", "breaker_open", "breaker_open")]
    assert len(llm_stub.requests) == 3  # not one request while open


@pytest.mark.django_db
def test_failures_outside_the_window_do_not_add_up(breaker_settings, llm_stub):
    breaker_settings.LLM_BREAKER_WINDOW_SECONDS = 0.5
    fail_replies(llm_stub, 2)
    time.sleep(0.6)
    fail_replies(llm_stub, 2)
    assert settings_circuit().state() == State.CLOSED


@pytest.mark.django_db
def test_a_client_error_does_not_count_as_a_failure(breaker_settings, llm_stub):
    llm_stub.script(Error(status=400), times=5)
    for _ in range(5):
        reply_generate(reply_id=pending_reply().id)
    assert settings_circuit().state() == State.CLOSED


@pytest.mark.django_db
def test_one_probe_after_the_cool_down_closes_the_circuit_on_success(breaker_settings, llm_stub):
    breaker_settings.LLM_BREAKER_COOLDOWN_SECONDS = 0.5
    fail_replies(llm_stub, 3)
    assert settings_circuit().state() == State.OPEN
    time.sleep(0.6)
    assert settings_circuit().state() == State.HALF_OPEN

    done = reply_generate(reply_id=pending_reply().id)  # the probe
    assert done.status == "completed"
    assert settings_circuit().state() == State.CLOSED
    assert reply_generate(reply_id=pending_reply().id).status == "completed"
    assert len(llm_stub.requests) == 5


@pytest.mark.django_db
def test_a_failed_probe_opens_the_circuit_for_another_cool_down(breaker_settings, llm_stub):
    breaker_settings.LLM_BREAKER_COOLDOWN_SECONDS = 0.5
    fail_replies(llm_stub, 3)
    time.sleep(0.6)
    fail_replies(llm_stub, 1)  # the probe fails
    assert settings_circuit().state() == State.OPEN
    assert reply_generate(reply_id=pending_reply().id).error_code == "all_providers_unavailable"
    assert len(llm_stub.requests) == 4


@pytest.mark.django_db
def test_only_one_of_many_concurrent_callers_gets_the_probe(settings):
    settings.LLM_BREAKER_FAILURE_THRESHOLD, settings.LLM_BREAKER_COOLDOWN_SECONDS = 1, 0.2
    circuit = breaker_for("endpoint:concurrency-test")
    circuit.record_failure(probe=False)
    assert circuit.acquire() == Decision.OPEN
    time.sleep(0.3)
    decisions, barrier = [], threading.Barrier(12)

    def caller():
        barrier.wait()
        decisions.append(breaker_for("endpoint:concurrency-test").acquire())

    threads = [threading.Thread(target=caller) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert decisions.count(Decision.PROBE) == 1 and decisions.count(Decision.OPEN) == 11


@pytest.mark.django_db
def test_each_endpoint_has_its_own_circuit(breaker_settings, llm_stub, customer):
    a, b = endpoint(llm_stub, "A"), endpoint(llm_stub, "B")
    model("gpt-a", a)
    model("gpt-b", b)
    prefer(customer, "gpt-a", "gpt-b")
    breaker_settings.LLM_BREAKER_FAILURE_THRESHOLD = 1
    llm_stub.script(Error(status=503), model="gpt-a")
    first = reply_generate(reply_id=pending_reply(customer=customer).id)
    assert first.model == "gpt-b"  # A failed (and opened), B answered

    reply = pending_reply(customer=customer)
    done = reply_generate(reply_id=reply.id)
    assert done.status == "completed" and done.model == "gpt-b"
    assert done.route_reason == "fallback after circuit open on gpt-a"
    assert ledger(reply) == [("gpt-a", "breaker_open", "breaker_open"), ("gpt-b", "success", "")]
    assert [r.model for r in llm_stub.requests] == ["gpt-a", "gpt-b", "gpt-b"]


@pytest.mark.django_db
def test_every_endpoint_open_fails_at_once(breaker_settings, llm_stub, customer):
    a, b = endpoint(llm_stub, "A", read_timeout=5), endpoint(llm_stub, "B", read_timeout=5)
    model("gpt-a", a)
    model("gpt-b", b)
    prefer(customer, "gpt-a", "gpt-b")
    # Warm up (tokenizer, SDK client, connections), so the measurement is the route itself.
    assert reply_generate(reply_id=pending_reply(customer=customer).id).status == "completed"
    llm_stub.reset()
    for ep in (a, b):
        circuit = breaker_for(endpoint_breaker_key(ep.pk))
        for _ in range(3):
            circuit.record_failure(probe=False)

    reply = pending_reply(customer=customer)
    started = time.monotonic()
    done = reply_generate(reply_id=reply.id)
    elapsed = time.monotonic() - started
    assert done.status == "failed" and done.error_code == "all_providers_unavailable"
    assert done.content == breaker_settings.CHAT_FAILED_REPLY_TEXT
    print(f"\nall circuits open: reply failed in {elapsed * 1000:.0f} ms")  # docs/resilience.md
    assert elapsed < 1.0, elapsed
    assert llm_stub.requests == []
    assert [row[1] for row in ledger(reply)] == ["breaker_open", "breaker_open"]


# --- two real worker processes ----------------------------------------------------------------

WORKER_BREAKER = {
    "LLM_BREAKER_FAILURE_THRESHOLD": "2",
    "LLM_BREAKER_WINDOW_SECONDS": "60",
    "LLM_BREAKER_COOLDOWN_SECONDS": "30",
    "LLM_MAX_RETRIES": "0",
}


def send(content: str):
    return turn_start(conversation=ConversationFactory(), content=content).reply


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_circuit_opened_by_one_worker_is_obeyed_by_another(
    start_worker, worker_env, llm_stub, settings
):
    worker_env.update(WORKER_BREAKER)
    settings.CHAT_DEBOUNCE_SECONDS = 0
    w1 = start_worker("w1")
    llm_stub.script(Error(status=500), times=2)
    for i in range(2):
        assert wait_for_reply(send(f"trip {i}").id).error_code == "provider_error"
    w1.stop()  # w1 opened the circuit and is gone: the state lives in Redis
    start_worker("w2")

    done = wait_for_reply(send("while open").id)
    assert done.error_code == "all_providers_unavailable"
    assert len(llm_stub.requests) == 2
    assert ledger(done) == [("gpt-4o-mini", "breaker_open", "breaker_open")]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_circuit_and_send_a_single_probe(
    start_worker, worker_env, llm_stub, settings
):
    cooldown = 10
    # A lease and read timeout long enough for a probe that takes 3.5 s to answer.
    worker_env.update(
        {
            **WORKER_BREAKER,
            "LLM_BREAKER_COOLDOWN_SECONDS": str(cooldown),
            "LLM_READ_TIMEOUT": "6",
            "REPLY_LEASE_SECONDS": "10",
        }
    )
    settings.CHAT_DEBOUNCE_SECONDS = 0
    workers = [start_worker("w1"), start_worker("w2")]
    log_start = {w.name: w.log_path.stat().st_size for w in workers}
    llm_stub.script(Error(status=500), times=2)
    for reply in [send("trip a"), send("trip b")]:
        wait_for_reply(reply.id)
    opened_at = time.monotonic()

    burst = [send(f"open {i}") for i in range(4)]
    results = [wait_for_reply(r.id) for r in burst]
    assert time.monotonic() - opened_at < cooldown  # all of them while it was open
    assert {r.error_code for r in results} == {"all_providers_unavailable"}
    assert len(llm_stub.requests) == 2

    time.sleep(max(0.0, cooldown + 0.2 - (time.monotonic() - opened_at)))
    # The probe is slow, so the rest of the burst arrives while it is in flight.
    llm_stub.script(Reply(text="Probe ok.", ttft=3.5))
    llm_stub.default = Reply(text="Normal.")
    burst = [send(f"half-open {i}") for i in range(6)]
    results = [wait_for_reply(r.id) for r in burst]
    probe, *after = llm_stub.requests[2:]
    assert probe.wait_finished(5)
    # Exactly one request went out from the fleet until the probe had answered...
    assert all(r.received_at >= probe.finished_at for r in after)
    contents = [r.content for r in results if r.status == "completed"]
    assert contents.count("Probe ok.") == 1
    # ...everyone else meanwhile was refused at once (or, later, served normally).
    refused = [r for r in results if r.error_code == "all_providers_unavailable"]
    assert refused and len(refused) + len(contents) == 6
    assert set(contents) <= {"Probe ok.", "Normal."}

    handled = {
        w.name: w.log_path.read_text()[log_start[w.name] :].count("Task chatbot.reply_generate[")
        for w in workers
    }
    assert all(handled.values()), handled  # both processes took part

    # Closed again: traffic flows normally.
    assert wait_for_reply(send("after recovery").id).content == "Normal."


def test_without_redis_an_in_process_breaker_follows_the_same_rules(settings):
    from chatbot.routing.breaker import LocalBreaker

    settings.REDIS_URL = ""
    settings.LLM_BREAKER_FAILURE_THRESHOLD, settings.LLM_BREAKER_COOLDOWN_SECONDS = 2, 0.2
    circuit = breaker_for("endpoint:demo")
    assert isinstance(circuit, LocalBreaker)
    circuit.record_failure(probe=False)
    assert circuit.acquire() == Decision.ALLOW
    circuit.record_failure(probe=False)
    assert circuit.acquire() == Decision.OPEN and circuit.state() == State.OPEN
    time.sleep(0.25)
    assert [circuit.acquire(), circuit.acquire()] == [Decision.PROBE, Decision.OPEN]
    circuit.record_failure(probe=True)  # the probe failed: open for another cool-down
    assert circuit.acquire() == Decision.OPEN
    time.sleep(0.25)
    assert circuit.acquire() == Decision.PROBE
    circuit.record_success()
    assert circuit.state() == State.CLOSED and circuit.acquire() == Decision.ALLOW
