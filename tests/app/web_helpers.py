"""Steps the clinic tests take through the pages (Flask test client)."""

import re

from spasmcv.app.db import Patient


def token(client, url="/"):
    """The CSRF token of the form on ``url``."""
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True)).group(1)


def new_patient(client, sessions, code: str) -> int:
    """Create a patient through the page; its database id."""
    client.post("/patients", data={"code": code, "csrf_token": token(client)})
    with sessions() as s:
        return s.query(Patient).filter_by(code=code).one().id
