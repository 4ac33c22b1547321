"""Scenarios: each is `async def run(ctx)` and records rows through `ctx.record()`."""
