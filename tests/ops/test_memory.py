"""The collector and the app's long-lived objects (app.settle_memory)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from loomwork.app import create_app


def test_a_started_app_freezes_its_startup_objects_and_lets_them_go_when_it_stops(settings, db) -> None:
    """Full collections walked the app's 300,000 startup objects again every 50 or so requests (180 ms each):
    a started app has them frozen, out of the collector's way; a stopped one hands them back."""
    gc.unfreeze()
    with TestClient(create_app(settings, db)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000  # the modules, models and schemas, at the least
    assert gc.get_freeze_count() == 0
