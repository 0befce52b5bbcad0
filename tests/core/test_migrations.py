"""Migrations build the same schema as the models, and come down cleanly, on both backends."""

from sqlalchemy import inspect

from brokercare.core import migrate
from brokercare.core.database import Base


def test_migrations_run_up_and_down(empty_engine):
    with empty_engine.begin() as conn:
        migrate.upgrade(conn)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables, set(Base.metadata.tables) - tables

    with empty_engine.begin() as conn:
        migrate.downgrade(conn, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}

    with empty_engine.begin() as conn:  # and up again: downgrade left nothing behind
        migrate.upgrade(conn)
    assert set(Base.metadata.tables) <= set(inspect(empty_engine).get_table_names())
