"""Alembic migrations for every domain (``brokercare db upgrade``)."""
