"""Fixtures of the consumer core's tests: an in-memory broker and dead-letter sink, and a store
that is, in turn, the in-memory one and the REAL recorder on the test database (SQLite, or
PostgreSQL under `make test`): a guarantee the double claims is checked on the real thing."""

from __future__ import annotations

import pytest

from stats.consumer.testing import InMemoryBroker, InMemoryDeadLetters, InMemoryStore
from tests.stats.core_harness import DatabaseStore, Store


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker("t", partitions=3)


@pytest.fixture(params=["memory", pytest.param("database", marks=pytest.mark.django_db)])
def store(request: pytest.FixtureRequest) -> Store:
    return InMemoryStore() if request.param == "memory" else DatabaseStore()


@pytest.fixture
def sink() -> InMemoryDeadLetters:
    return InMemoryDeadLetters()
