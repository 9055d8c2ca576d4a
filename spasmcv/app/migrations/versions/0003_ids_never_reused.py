"""Ids are never reused (SQLite): a deleted visit's, recording's or treatment's id went to the next one
created, so an audit entry such as "delete visit 3" came to name another visit.

SQLite gives a new row the largest id + 1 unless the table is AUTOINCREMENT; each table is rebuilt
as one (rows, indexes and keys kept), and its counter starts above every id it holds or the audit
log names (ids deleted before this migration are known only there). PostgreSQL's sequences never
reuse an id: nothing to do there.

Revision ID: 0003
Revises: 0002
"""
import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Tables in an order that rebuilds a parent before its children.
TABLES = ("patient", "treatment", "dose", "visit", "recording", "app_user", "audit")
#: Audit targets name these kinds of rows by id ("recording 7 of visit 3").
AUDITED = ("patient", "treatment", "visit", "recording")


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    if connection.execute(sa.text("PRAGMA foreign_keys")).scalar():   # a rebuilt parent would delete its children
        raise RuntimeError("migration 0003 must run with SQLite foreign keys off (they are off on a new connection)")
    named = {table: 0 for table in AUDITED}
    for (target,) in connection.execute(sa.text("SELECT target FROM audit")):
        for kind, number in re.findall(r"\b(patient|treatment|visit|recording) (\d+)", target or ""):
            named[kind] = max(named[kind], int(number))
        listed = re.search(r"recordings (\[.*)", target or "")   # a deleted visit's: "1 recordings [(2, 'sha', 'done')]"
        for number in re.findall(r"\((\d+), ", listed.group(1) if listed else ""):
            named["recording"] = max(named["recording"], int(number))
    for table in TABLES:   # foreign keys off (checked above): nothing cascades
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    for table in TABLES:
        largest = connection.execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar()
        start = max(largest, named.get(table, 0))
        connection.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        connection.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)"), {"t": table, "s": start})


def downgrade() -> None:
    """The tables stay AUTOINCREMENT (harmless to the earlier schema)."""
