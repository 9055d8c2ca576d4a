"""The first clinic schema: patients, treatments with doses per site, visits, recordings, audit log.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("diagnosis", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "treatment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patient.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("product", sa.String(100), nullable=False),
        sa.Column("dilution", sa.String(100), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
    )
    op.create_table(
        "dose",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("treatment_id", sa.Integer, sa.ForeignKey("treatment.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("site", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("units", sa.Float, nullable=False),
    )
    op.create_table(
        "visit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("patient.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("jrs_severity", sa.Integer, nullable=True),
        sa.Column("jrs_frequency", sa.Integer, nullable=True),
        sa.Column("bsdi", sa.Float, nullable=True),
        sa.Column("notes", sa.Text, nullable=False),
    )
    op.create_table(
        "recording",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("visit_id", sa.Integer, sa.ForeignKey("visit.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("keep_video", sa.Boolean, nullable=False),
        sa.Column("video_file", sa.String(200), nullable=True),
        sa.Column("video_sha256", sa.String(64), nullable=True),
        sa.Column("protocol", sa.Text, nullable=False),
        sa.Column("trace_csv", sa.LargeBinary, nullable=True),
        sa.Column("analysis_json", sa.Text, nullable=True),
        sa.Column("events_csv", sa.Text, nullable=True),
        sa.Column("minutes_csv", sa.Text, nullable=True),
        sa.Column("spasmcv_version", sa.String(40), nullable=True),
        sa.Column("analysis_version", sa.String(40), nullable=True),
        sa.Column("unacceptable", sa.Boolean, nullable=False),
        sa.Column("unacceptable_reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("user", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit", "recording", "visit", "dose", "treatment", "patient"):
        op.drop_table(table)
