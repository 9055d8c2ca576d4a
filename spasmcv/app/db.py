"""The clinic database: patients, treatments, visits, recordings and their results.

SQLAlchemy 2 ORM; the same code runs on SQLite (a file in the user's data folder, no setup) and on
PostgreSQL (``--database-url postgresql+psycopg://...``). The schema is versioned from the first
release by Alembic migrations (``spasmcv/app/migrations``); :func:`open_database` upgrades an
existing database to the current version before use.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from pathlib import Path

from sqlalchemy import (Boolean, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, create_engine,
                        event)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

#: Diagnoses a patient can have (the clinic's own label; shown as given).
DIAGNOSES = {"blepharospasm": "Blepharospasm", "hfs_left": "Hemifacial spasm, left",
             "hfs_right": "Hemifacial spasm, right", "meige": "Meige syndrome", "other": "Other"}
def code_key(code: str) -> str:
    """A patient code as compared with the others: its compatibility form (a full-width Ｐ is P),
    letters and digits only, case folded; P-0007, p0007 and "P 0007" are one code."""
    return "".join(c for c in unicodedata.normalize("NFKC", code).casefold() if c.isalnum())


#: The side a hemifacial spasm diagnosis names (the patient's side).
HFS_SIDE = {"hfs_left": "left", "hfs_right": "right"}
#: Injection sites per side (docs/clinic.md).
INJECTION_SITES = {"upper_pretarsal": "upper lid, pretarsal", "upper_preseptal": "upper lid, preseptal",
                   "lower_pretarsal": "lower lid, pretarsal", "lower_preseptal": "lower lid, preseptal",
                   "lateral_canthus": "lateral canthus", "brow": "brow (corrugator/procerus)",
                   "lower_face": "lower face"}


#: Every table's options: SQLite must not give a deleted row's id to a new one, or the audit log's
#: "delete visit 3" would come to name another visit (migration 0003; PostgreSQL never does).
IDS_NEVER_REUSED = {"sqlite_autoincrement": True}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patient"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)          # pseudonymous, shown everywhere
    diagnosis: Mapped[str] = mapped_column(String(32), default="blepharospasm")
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)  # optional, stays in this database
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    treatments: Mapped[list["Treatment"]] = relationship(back_populates="patient", cascade="all, delete-orphan",
                                                         order_by="Treatment.date")
    visits: Mapped[list["Visit"]] = relationship(back_populates="patient", cascade="all, delete-orphan",
                                                 order_by="Visit.date")


class Treatment(Base):
    __tablename__ = "treatment"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    product: Mapped[str] = mapped_column(String(100), default="")
    dilution: Mapped[str] = mapped_column(String(100), default="")     # e.g. "100 U in 2.5 ml"
    notes: Mapped[str] = mapped_column(Text, default="")

    patient: Mapped[Patient] = relationship(back_populates="treatments")
    doses: Mapped[list["Dose"]] = relationship(back_populates="treatment", cascade="all, delete-orphan")

    @property
    def total_units(self) -> float:
        return float(sum(d.units for d in self.doses))


class Dose(Base):
    __tablename__ = "dose"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    treatment_id: Mapped[int] = mapped_column(ForeignKey("treatment.id", ondelete="CASCADE"), index=True)
    site: Mapped[str] = mapped_column(String(32))     # a key of INJECTION_SITES
    side: Mapped[str] = mapped_column(String(8))      # left / right (the patient's)
    units: Mapped[float] = mapped_column(Float)

    treatment: Mapped[Treatment] = relationship(back_populates="doses")


class Visit(Base):
    __tablename__ = "visit"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    task: Mapped[str] = mapped_column(String(16), default="rest")
    jrs_severity: Mapped[int | None] = mapped_column(Integer, nullable=True)    # clinician's Jankovic 0-4
    jrs_frequency: Mapped[int | None] = mapped_column(Integer, nullable=True)   # clinician's Jankovic 0-4
    bsdi: Mapped[float | None] = mapped_column(Float, nullable=True)            # Blepharospasm Disability Index
    notes: Mapped[str] = mapped_column(Text, default="")

    patient: Mapped[Patient] = relationship(back_populates="visits")
    recordings: Mapped[list["Recording"]] = relationship(back_populates="visit", cascade="all, delete-orphan",
                                                         order_by="Recording.id")


class Recording(Base):
    __tablename__ = "recording"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")   # queued, running, done, failed, cancelled
    progress: Mapped[float] = mapped_column(Float, default=0.0)         # 0-1
    error: Mapped[str] = mapped_column(Text, default="")
    keep_video: Mapped[bool] = mapped_column(Boolean, default=False)    # privacy default: trace only
    video_file: Mapped[str | None] = mapped_column(String(200), nullable=True)  # name inside the data folder
    video_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    protocol: Mapped[str] = mapped_column(Text, default="{}")           # JSON: how it was recorded
    trace_csv: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)   # gzip-compressed trace
    analysis_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    events_csv: Mapped[str | None] = mapped_column(Text, nullable=True)
    minutes_csv: Mapped[str | None] = mapped_column(Text, nullable=True)
    spasmcv_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    analysis_version: Mapped[str | None] = mapped_column(String(40), nullable=True)
    unacceptable: Mapped[bool] = mapped_column(Boolean, default=False)
    unacceptable_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)

    visit: Mapped[Visit] = relationship(back_populates="recordings")

    @property
    def protocol_data(self) -> dict:
        """``protocol`` read: how the recording was made (the guided protocol's segments, a mirror
        image, the part of a video a batch scored); {} for a plain upload."""
        data = json.loads(self.protocol or "{}")
        return data if isinstance(data, dict) else {}


class User(Base):
    """A person who may sign in (required when the application listens on a network)."""

    __tablename__ = "app_user"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))     # argon2id, never the password
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)


class AuditEntry(Base):
    __tablename__ = "audit"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    user: Mapped[str] = mapped_column(String(100), default="local")
    action: Mapped[str] = mapped_column(String(32))      # view, create, change, delete
    target: Mapped[str] = mapped_column(Text)            # e.g. "patient 3" (migration 0004: any length)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (argon2-cffi's recommended parameters)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def check_password(password_hash: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(sessions, username: str, password: str) -> User:
    """Create an account; passwords need at least 10 characters."""
    from spasmcv.errors import SpasmcvError

    username = username.strip()
    if not username or len(username) > 100:
        raise SpasmcvError("a user name of 1-100 characters is needed")
    if len(password) < 10:
        raise SpasmcvError("a password needs at least 10 characters")
    with sessions() as session:
        if session.query(User).filter_by(username=username).first():
            raise SpasmcvError(f"the user {username!r} exists already")
        user = User(username=username, password_hash=hash_password(password))
        session.add(user)
        session.commit()
        return user


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'clinic.sqlite3').as_posix()}"


def _sqlite_pragmas(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _on_connect(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (Alembic migrations shipped with spasmcv)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


def open_database(url: str):
    """Upgrade the database to the current schema and return a session factory."""
    upgrade(url)
    engine = create_engine(url, future=True)
    _sqlite_pragmas(engine)
    return sessionmaker(engine, expire_on_commit=False)
