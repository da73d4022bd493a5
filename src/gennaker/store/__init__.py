"""Persistence: SQLAlchemy tables, Alembic migrations and one repository per kind of record."""
