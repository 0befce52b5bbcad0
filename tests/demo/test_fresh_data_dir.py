"""A new user's first command: `brokercare generate` on an empty data dir builds the schema itself."""

from __future__ import annotations

from sqlalchemy import create_engine, func, inspect, select, text
from typer.testing import CliRunner

from brokercare.cli import app
from brokercare.core.settings import get_settings, reset_settings


def test_generate_on_a_fresh_data_dir_needs_no_separate_upgrade(tmp_path, monkeypatch):
    monkeypatch.setenv("BROKERCARE_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.delenv("BROKERCARE_DATABASE_URL", raising=False)
    reset_settings()
    result = CliRunner().invoke(app, ["generate", "--customers", "60", "--seed", "7", "--skip-hooks"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "60 customers" in result.output
    engine = create_engine(get_settings().resolved_database_url())
    assert {"instruments", "customers", "accounts", "outbox_messages"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(text("customers"))) == 60
    engine.dispose()
