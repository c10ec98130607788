"""The runner tests' own subscriber and job handlers, declared only while a test runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.worker import fixture_tasks


@pytest.fixture(autouse=True)
def test_tasks() -> Iterator[None]:
    fixture_tasks.register()
    yield
    fixture_tasks.unregister()
