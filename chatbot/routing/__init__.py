"""Model routing and resilience: which model answers a reply, retries with backoff,
fallbacks, a circuit breaker per endpoint shared through Redis, and the provider-call
ledger. See docs/resilience.md."""
