"""Shared kernel: settings, database, event bus, trading calendar, errors."""
