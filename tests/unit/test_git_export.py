"""Exports stream ``git archive`` into a directory (activities/gitrepo.py ``_extract_archive``).

These tests run a stand-in ``git`` (a shell script first on PATH) that writes a tar stream the
way git does, with the timing a loaded machine gives it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from activities.gitrepo import _extract_archive

RECORD = 10240
"""git archive pads its tar to 10 KiB records, as tar does."""


def first_record(name: str, content: bytes) -> bytes:
    """One member, then zero blocks up to the end of the first record: a reader stops at the
    first zero block, having read exactly one record."""
    info = tarfile.TarInfo(name)
    info.size = len(content)
    member = info.tobuf(format=tarfile.PAX_FORMAT) + content + b"\0" * (-len(content) % 512)
    assert len(member) < RECORD
    return member + b"\0" * (RECORD - len(member))


def fake_git(bin_dir: Path, stream: Path, *, pause: float) -> None:
    """A ``git`` that writes ``stream``, pauses (a busy machine), then writes one more record of
    zeros, as git does when its end-of-archive blocks straddle a record."""
    bin_dir.mkdir()
    script = bin_dir / "git"
    script.write_text(f'#!/bin/sh\ncat "{stream}"\nsleep {pause}\nhead -c {RECORD} /dev/zero\n')
    script.chmod(0o755)


def test_an_export_waits_for_the_end_of_gits_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader used to close the pipe at the first end-of-archive block; git, still to write
    the rest of its last record, died of SIGPIPE and a complete export failed (a CI flake)."""
    stream = tmp_path / "archive.tar"
    stream.write_bytes(first_record("app/cm.yaml", b"kind: ConfigMap\n"))
    fake_git(tmp_path / "bin", stream, pause=0.3)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    mirror.mkdir()
    out.mkdir()

    _extract_archive(mirror, "a" * 40, out, max_bytes=1 << 20)

    assert (out / "app" / "cm.yaml").read_text() == "kind: ConfigMap\n"


def test_the_stream_is_a_real_tar() -> None:
    """The stand-in's stream is what tarfile reads as a one-member archive."""
    with tarfile.open(fileobj=io.BytesIO(first_record("a.yaml", b"x: 1\n")), mode="r|") as tar:
        assert [m.name for m in tar] == ["a.yaml"]
