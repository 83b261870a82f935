"""Shared fixtures; each test folder groups what it guards (code, data, model, e2e)."""
