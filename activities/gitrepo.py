"""Git access for the worker: resolve revisions and export commits, through the git CLI.

Each repository has a bare mirror in the worker's cache, fetched on demand; a commit
is exported with ``git archive`` into a fresh directory, so a render never sees a
half-updated work tree and two renders never share one. Git runs non-interactively
(no terminal prompts, no credential helpers of the host): a repository that needs
credentials fails with a clear message instead of hanging.

Credentials come from a :class:`~activities.credentials.CredentialStore`, looked up by
URL for each command that talks to the remote and handed to that one git process only
(:func:`~activities.credentials.git_auth`); their values are scrubbed from git's output.

The cache is bounded (``max_bytes``, ``BOSUN_GIT_CACHE_MAX_BYTES``): after a fetch, the
least recently used mirrors are removed until the rest fit (:mod:`activities.lru`). A mirror
in use — being fetched or exported, by any process sharing the directory — holds a shared
``flock`` on ``<mirror>.lock`` and is never removed; eviction takes the lock exclusively.

Every URL is checked before git sees it (:func:`bosun.repo_urls.check_repo_url`: no user
or password in it, no leading ``-``, no ``<transport>::``, ``file://`` and local paths only
with ``allow_local``, the worker's ``BOSUN_ALLOW_LOCAL_REPOS``); URLs follow ``--`` and
revisions ``--end-of-options`` on git's command line, and git runs with ``GIT_ALLOW_PROTOCOL``
(:func:`bosun.repo_urls.git_protocols`). Mirrors are named by a hash of the URL keyed with
a random salt made once per cache (``.salt``, mode 0600): a render that knows another team's
repository URL cannot name its mirror.

Symlinks that point outside the exported tree are refused at export, whatever path the
app renders (the class of Argo CD CVE-2022-24348/24730): nothing that follows can be
tricked into reading the worker's files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from activities.credentials import (
    CredentialError,
    CredentialStore,
    GitAuth,
    RepoCredentials,
    failure_message,
    git_auth,
    is_remote_url,
    scrub,
)
from activities.lru import Entry, evict, touch, tree_size
from bosun import metrics
from bosun.limits import describe_bytes, input_limits
from bosun.repo_urls import RepoURLError, check_repo_url, git_protocols

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
GIT_TIMEOUT = 120.0
GRACE_SECONDS = 60.0
"""A mirror used this recently is kept even when unlocked (the render that follows its export)."""


class GitError(Exception):
    """A git operation failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def redact_url(url: str) -> str:
    """The URL without any user:password part, for messages and logs."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class GitCache:
    def __init__(
        self,
        root: Path,
        *,
        credentials: CredentialStore | None = None,
        max_bytes: int | None = None,
        grace_seconds: float = GRACE_SECONDS,
        allow_local: bool = False,
    ) -> None:
        self._root = root
        self._credentials = credentials
        self.allow_local = allow_local
        """Whether ``file://`` URLs and local paths may be fetched (``BOSUN_ALLOW_LOCAL_REPOS``)."""
        self._max_bytes = max_bytes
        self._grace = grace_seconds
        root.mkdir(parents=True, exist_ok=True)
        self._salt, created = _salt(root)
        if created:
            self._forget_unsalted()

    @property
    def root(self) -> Path:
        """The directory of the mirrors (and of the salt that names them)."""
        return self._root

    def size(self) -> int:
        """Bytes of the mirrors now."""
        return sum(tree_size(path) for path in self._mirrors())

    def collect(self) -> list[Entry]:
        """Remove least-recently-used mirrors nobody is using until the cache fits its bound."""
        if self._max_bytes is None:
            return []
        entries = [Entry(path=p, size=self._recorded_size(p), used_at=p.stat().st_mtime) for p in self._mirrors()]
        return evict(entries, self._max_bytes, grace_seconds=self._grace, remove=self._remove_unused)

    def _recorded_size(self, mirror: Path) -> int:
        """The mirror's size as recorded after its last fetch (:meth:`_record_size`), else measured.

        A mirror only grows when it is fetched, so its size is measured then, once, and kept
        beside it; :meth:`collect`, which runs after every use of the cache, reads one small
        file per mirror instead of walking every file of every mirror."""
        try:
            return int(mirror.with_suffix(".size").read_text())
        except (FileNotFoundError, ValueError):
            return tree_size(mirror)

    @staticmethod
    def _record_size(mirror: Path) -> None:
        sidecar = mirror.with_suffix(".size")
        partial = sidecar.with_suffix(f".size.{os.getpid()}")
        partial.write_text(str(tree_size(mirror)))
        partial.replace(sidecar)  # atomic: another process never reads half a number

    def resolve(self, url: str, revision: str) -> str:
        """The commit SHA that ``revision`` (branch, tag, HEAD, SHA) names now."""
        self._check(url)
        revision = revision.strip() or "HEAD"
        if SHA_RE.match(revision):
            return revision
        refs = self._ls_remote(url)
        for candidate in _ref_candidates(revision):
            if candidate in refs:
                return refs[candidate]
        if re.fullmatch(r"[0-9a-f]{7,39}", revision):
            with self._using(url) as mirror:
                self._fetch(url, mirror)
                return self._git(
                    ["rev-parse", "--verify", "--end-of-options", f"{revision}^{{commit}}"],
                    cwd=mirror,
                    what=f"resolve {revision}",
                ).strip()
        raise GitError(
            f"revision {revision!r} not found in {redact_url(url)} (no such branch, tag or commit)",
            retryable=False,
        )

    def export(self, url: str, commit: str, destination: Path, *, only: str | None = None) -> None:
        """Write the tree of ``commit`` into ``destination`` (which must be empty); with ``only``
        (a normalised repository-relative directory), just that directory, at its place in the tree."""
        self._check(url)
        if not SHA_RE.match(commit):
            raise GitError(f"{commit!r} is not a commit SHA (40 hex digits): refused", retryable=False)
        with self._using(url) as mirror:
            if not self._has_commit(mirror, commit):
                self._fetch(url, mirror)
            if not self._has_commit(mirror, commit):
                self._fetch(url, mirror, refspecs=[commit])
            if not self._has_commit(mirror, commit):
                raise GitError(f"commit {commit} not found in {redact_url(url)}", retryable=False)
            destination.mkdir(parents=True, exist_ok=True)
            _extract_archive(mirror, commit, destination, max_bytes=input_limits().archive_bytes, only=only)

    def _check(self, url: str) -> None:
        """GitError (not retryable) for a URL Bosun does not fetch (:func:`bosun.repo_urls.check_repo_url`)."""
        try:
            check_repo_url(url, allow_local=self.allow_local)
        except RepoURLError as exc:
            raise GitError(str(exc), retryable=False) from None

    def mirror_path(self, url: str) -> Path:
        """Where the mirror of ``url`` lives: named by a keyed hash of the URL (the cache's secret
        salt, :func:`_salt`), so a render that knows a URL cannot name its mirror."""
        digest = hashlib.sha256(self._salt + b"\0" + url.encode()).hexdigest()
        return self._root / digest[:32]

    # -- plumbing

    @contextlib.contextmanager
    def _using(self, url: str) -> Iterator[Path]:
        """The mirror of ``url``, created if needed, held in use (a shared lock) until the block ends;
        the cache is collected afterwards, the mirror then being the most recently used."""
        path = self.mirror_path(url)
        with open(path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            if not (path / "HEAD").exists():
                self._init_mirror(path, lock)
            touch(path)
            yield path
            touch(path)
        self.collect()

    def _init_mirror(self, path: Path, lock: IO[str]) -> None:
        """Create the bare mirror under the exclusive lock, then hold the shared one again: worker
        processes share the cache, and two ``git init`` of one directory at once fail ("cannot copy
        .../description: File exists")."""
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (path / "HEAD").exists():
                path.mkdir(parents=True, exist_ok=True)
                self._git(["init", "--bare", "-q", "--", str(path)], cwd=self._root, what="init cache")
        finally:
            fcntl.flock(lock, fcntl.LOCK_SH)

    def _forget_unsalted(self) -> None:
        """Remove the mirrors made before the salt (named by a plain hash of their URL, at a
        path anyone could compute): nothing will use them again."""
        for mirror in self._mirrors():
            with contextlib.suppress(OSError):
                self._remove_unused(Entry(path=mirror, size=0, used_at=mirror.stat().st_mtime))

    def _mirrors(self) -> list[Path]:
        return [p for p in self._root.iterdir() if p.is_dir() and p.with_suffix(".lock").exists()]

    def _remove_unused(self, entry: Entry) -> bool:
        """Remove a mirror unless a process holds it (its lock is taken exclusively meanwhile)."""
        with open(entry.path.with_suffix(".lock"), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # being fetched or exported right now
            try:
                if entry.path.stat().st_mtime > entry.used_at:
                    return False  # used since it was listed
            except FileNotFoundError:
                return False
            shutil.rmtree(entry.path, ignore_errors=True)
            entry.path.with_suffix(".size").unlink(missing_ok=True)
            return True

    def _fetch(self, url: str, mirror: Path, refspecs: list[str] | None = None) -> None:
        specs = refspecs or ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        self._remote(
            url,
            ["fetch", "-q", "--prune", "--no-write-fetch-head", "--", url, *specs],
            cwd=mirror,
            what=f"fetch {redact_url(url)}",
        )
        self._record_size(mirror)

    def _has_commit(self, mirror: Path, commit: str) -> bool:
        proc = subprocess.run(
            ["git", "cat-file", "-e", "--end-of-options", f"{commit}^{{commit}}"],
            cwd=mirror,
            capture_output=True,
            env=_env(allow_local=self.allow_local),
            timeout=GIT_TIMEOUT,
        )
        return proc.returncode == 0

    def _ls_remote(self, url: str) -> dict[str, str]:
        out = self._remote(
            url, ["ls-remote", "--symref", "--", url], cwd=self._root, what=f"reach {redact_url(url)}"
        ).decode(errors="replace")
        refs: dict[str, str] = {}
        for line in out.splitlines():
            if line.startswith("ref:"):
                continue
            sha, _, ref = line.partition("\t")
            if ref.endswith("^{}"):
                refs[ref[:-3]] = sha  # a peeled annotated tag names the commit
            else:
                refs.setdefault(ref, sha)
        return refs

    def _remote(self, url: str, args: list[str], *, cwd: Path, what: str) -> bytes:
        """Run a git command that talks to ``url``, with that repository's credentials (timed and
        counted as ``argocd_git_request_total{request_type=ls-remote|fetch}``)."""
        started = time.monotonic()
        try:
            with git_auth(self._lookup(url), url=url) as auth:
                return self._git_bytes(args, cwd=cwd, what=what, auth=auth, url=url)
        finally:
            metrics.observe_git_request(repo=redact_url(url), request_type=args[0], seconds=time.monotonic() - started)

    def _lookup(self, url: str) -> RepoCredentials | None:
        if self._credentials is None or not is_remote_url(url):
            return None
        try:
            return self._credentials.lookup(url)
        except CredentialError as exc:
            raise GitError(
                f"cannot read the credentials for {redact_url(url)}: {exc}", retryable=exc.retryable
            ) from None

    def _git(self, args: list[str], *, cwd: Path, what: str) -> str:
        return self._git_bytes(args, cwd=cwd, what=what).decode(errors="replace")

    def _git_bytes(self, args: list[str], *, cwd: Path, what: str, auth: GitAuth | None = None, url: str = "") -> bytes:
        env = {**_env(allow_local=self.allow_local), **(auth.env if auth is not None else {})}
        try:
            proc = subprocess.run(
                ["git", "-c", "credential.helper=", *args], cwd=cwd, capture_output=True, env=env, timeout=GIT_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git could not {what}: timed out after {GIT_TIMEOUT:.0f}s", retryable=True) from None
        if proc.returncode != 0:
            secrets = auth.secrets if auth is not None else ()
            message = _redact_all(scrub(proc.stderr.decode(errors="replace").strip(), secrets))
            refused = failure_message(redact_url(url), message, auth) if url else None
            if refused is not None:  # retrying cannot help; the next refresh tries again
                raise GitError(refused, retryable=False)
            raise GitError(f"git could not {what}: {message}", retryable=True)
        return proc.stdout


def _ref_candidates(revision: str) -> list[str]:
    if revision == "HEAD":
        return ["HEAD"]
    if revision.startswith("refs/"):
        return [revision]
    return [f"refs/heads/{revision}", f"refs/tags/{revision}"]


def _extract_archive(mirror: Path, commit: str, destination: Path, *, max_bytes: int, only: str | None = None) -> None:
    """Stream ``git archive`` of ``commit`` into ``destination``, member by member, never
    holding the archive in memory. A symlink leaving the tree is refused; an archive past
    ``max_bytes`` (``BOSUN_MAX_ARCHIVE_BYTES``, counting 512 bytes a header) stops git and
    fails, non-retryable; one that runs longer than ``GIT_TIMEOUT`` is stopped and retried."""
    what = f"export {commit[:12]}"
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            # --literal-pathspecs: a path from Git is a path, never pathspec magic (":(glob)…").
            ["git", "-c", "credential.helper=", "--literal-pathspecs", "archive", "--format=tar"]
            + ["--end-of-options", commit, *([only] if only else [])],
            cwd=mirror,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_env(allow_local=False),  # reads the mirror itself: no transport
        )
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(GIT_TIMEOUT, stop)
        timer.start()
        assert proc.stdout is not None
        try:
            total = 0
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    total += 512 + member.size
                    if total > max_bytes:
                        raise GitError(
                            f"{what}: the commit's files exceed {describe_bytes(max_bytes)} at {member.name} "
                            "(limit BOSUN_MAX_ARCHIVE_BYTES)",
                            retryable=False,
                        )
                    if member.issym() or member.islnk():
                        _check_link_inside(member)
                    tar.extract(member, destination, filter="data")
            _drain(proc.stdout)
        except tarfile.TarError as exc:
            problem: str | None = str(exc)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        else:
            problem = None
        finally:
            timer.cancel()
            proc.stdout.close()
        if problem is not None:
            proc.kill()
        returncode = proc.wait()
        if timed_out.is_set():
            raise GitError(f"git could not {what}: timed out after {GIT_TIMEOUT:.0f}s", retryable=True)
        if returncode != 0 or problem is not None:
            stderr.seek(0)
            message = _redact_all(stderr.read().decode(errors="replace").strip()) or problem or f"exit {returncode}"
            raise GitError(f"git could not {what}: {message}", retryable=True)


def _check_link_inside(member: tarfile.TarInfo) -> None:
    target = member.linkname
    base = os.path.dirname(member.name) if member.issym() else ""
    resolved = os.path.normpath(os.path.join(base, target))
    if os.path.isabs(target) or resolved == ".." or resolved.startswith("../"):
        raise GitError(
            f"{member.name} is a link to {target!r}, outside the repository: refused",
            retryable=False,
        )


SALT_FILE = ".salt"
"""The cache's secret, created once (mode 0600) beside the mirrors; never in a render's reach."""


def _salt(root: Path) -> tuple[bytes, bool]:
    """The per-installation random salt of the mirror names under ``root``, and whether this
    call created it. Created exclusively (``O_EXCL``, mode 0600) so two processes sharing the
    cache agree on one salt."""
    path = root / SALT_FILE
    for _ in range(50):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            salt = path.read_bytes()
            if len(salt) == 32:
                return salt, False
            time.sleep(0.01)  # another process is writing it
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(os.urandom(32))
        return path.read_bytes(), True
    raise GitError(f"{path}: not a 32-byte salt; remove it and the mirrors beside it", retryable=False)


def _drain(stream: IO[bytes]) -> None:
    """Read what git still writes after the end-of-archive block (the rest of its 10 KiB tar
    record). tarfile stops at that block; closing the pipe before git has written the rest
    kills a git that the machine's load slowed down with SIGPIPE (exit -13), which failed
    exports of complete archives."""
    while stream.read(64 * 1024):
        pass


def _env(*, allow_local: bool) -> dict[str, str]:
    return {
        **os.environ,
        "GIT_ALLOW_PROTOCOL": git_protocols(allow_local=allow_local),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    }


def _redact_all(text: str) -> str:
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1", text)
