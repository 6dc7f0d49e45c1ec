"""The catalog's store adapter: SQLAlchemy on SQLite (default) or PostgreSQL."""

from catalog.store.engine import current_revision, head_revision, make_engine, upgrade

__all__ = ["current_revision", "head_revision", "make_engine", "upgrade"]
