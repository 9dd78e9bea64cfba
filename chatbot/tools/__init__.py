"""Customer-scoped function calling: the tools the model may call, and the ledger of calls.

See README.md in this folder and docs/tools.md."""
