"""The clinic application: a local web application that keeps each patient's visits, treatments
and objective scores over years (``spasmcv serve``).

``db`` (the schema, SQLAlchemy 2, versioned by Alembic migrations in ``migrations/``) ->
``jobs`` (analysis in the background, through :mod:`spasmcv.measure` and
:mod:`spasmcv.analysis`) -> ``web`` (server-rendered pages, Flask). Every number shown comes from
the toolkit's own API (:mod:`spasmcv.clinic.compare`, :mod:`spasmcv.clinic.report`): the
application measures nothing itself. Needs the ``clinic`` extra: ``pip install "spasmcv[clinic]"``.
"""
