"""Fixtures of the API schema tests (tests/dashboard/api_schema_support.py)."""

from tests.dashboard.api_schema_support import admin_token, api_world, in_process_api

__all__ = ["admin_token", "api_world", "in_process_api"]
