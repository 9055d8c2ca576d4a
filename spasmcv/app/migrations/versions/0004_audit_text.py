"""Audit entries of any length: they hold old and new values, a deleted visit's notes and
recordings, a recording's reason for being unacceptable. PostgreSQL refused an entry over 200
characters, so the change it recorded failed with an error; the column becomes TEXT. SQLite,
which does not enforce a VARCHAR's length, gets the same declared type (the table rebuilt, still
AUTOINCREMENT, its counter where it was).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        op.alter_column("audit", "target", type_=sa.Text(), existing_type=sa.String(200), existing_nullable=False)
        return
    counter = connection.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'audit'")).scalar()
    with op.batch_alter_table("audit", recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("target", type_=sa.Text(), existing_type=sa.String(200), existing_nullable=False)
    if counter is not None:   # the rebuilt table's counter starts at its largest id; keep the old one if larger
        connection.execute(sa.text("UPDATE sqlite_sequence SET seq = MAX(seq, :s) WHERE name = 'audit'"), {"s": counter})


def downgrade() -> None:
    """Entries longer than 200 characters would not fit: the column stays TEXT."""
