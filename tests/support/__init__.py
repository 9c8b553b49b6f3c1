"""Helpers for the tests (fake servers, in-process server runners)."""
