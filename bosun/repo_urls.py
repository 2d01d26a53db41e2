"""Git repository URLs: the two ways Bosun compares them, in one place.

- :func:`normalize_url` is Argo CD's ``git.NormalizeGitURL``, what credentials matching
  compares (a ``repository`` Secret's url against an app's ``repoURL``): case, a trailing
  ``.git`` or ``/`` and the ``ssh://`` prefix do not count, but the scheme and the user do.
- :func:`repo_key` says which repository a URL names, whatever the protocol: the host
  (without user, port, or the ``ssh.``/``altssh.`` prefix GitHub and GitLab use for SSH
  over port 443) and the path without ``.git``, lowercased. ``https://GitHub.com/org/Repo``,
  ``git@github.com:org/repo.git`` and ``ssh://git@github.com:22/org/repo`` all have the key
  ``github.com/org/repo``. It is what a webhook's repository URLs are matched with (Argo CD's
  ``GetWebURLRegex`` accepts the same variations) and what the ``BosunRepos`` search
  attribute holds.
- :func:`parse_repo_url` takes a URL apart (:class:`RepoURL`: scheme, host, port, SSH user,
  path segments) and refuses what git must never be handed: a user or password outside the
  SSH ``user@`` form, a leading ``-``, whitespace, a ``<transport>::`` helper, an unknown
  scheme. Credentials are matched on it (``RepoURL.names`` / ``RepoURL.covers``, used by
  :func:`activities.credentials.match`); :func:`check_repo_url` adds the operator's choice
  about local repositories, and :func:`git_protocols` is the ``GIT_ALLOW_PROTOCOL`` of every
  git Bosun or a render tool runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_SCP_URL = re.compile(r"^(?:[\w.-]+@)?[\w.-]+:(?!//)")
_SSH_HOST_PREFIXES = ("altssh.", "ssh.")
_AZURE_SSH = re.compile(r"^v3/([^/]+)/([^/]+)/([^/]+)$")
"""Azure DevOps' SSH path ``v3/<org>/<project>/<repo>``; its HTTPS path is ``<org>/<project>/_git/<repo>``."""


def is_ssh_url(url: str) -> bool:
    url = url.strip()
    return url.lower().startswith("ssh://") or ("://" not in url and bool(_SCP_URL.match(url)))


def normalize_url(url: str) -> str:
    """A repo URL in the form Argo CD compares (``git.NormalizeGitURL``)."""
    url = url.strip().lower()
    scp_style = is_ssh_url(url) and not url.startswith("ssh://")
    url = url.replace(":", "/", 1) if scp_style else url.removeprefix("ssh://")
    return url.rstrip("/").removesuffix(".git")


def repo_key(url: str) -> str:
    """Which repository ``url`` names, protocol aside (see the module docstring); "" for no URL."""
    url = url.strip().lower()
    if not url:
        return ""
    if "://" in url:
        parts = urlsplit(url)
        try:
            host = parts.hostname or ""
        except ValueError:  # a port that is not a number: keep what precedes it
            host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        path = parts.path
    elif _SCP_URL.match(url):
        authority, path = url.split(":", 1)
        host = authority.rsplit("@", 1)[-1]
    else:  # a bare path (a local repository)
        host, path = "", url
    for prefix in _SSH_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host.removeprefix(prefix)
            break
    path = path.strip("/").removesuffix(".git").strip("/")
    azure = _AZURE_SSH.match(path) if host == "dev.azure.com" else None
    if azure:
        path = f"{azure[1]}/{azure[2]}/_git/{azure[3]}"
    return f"{host}/{path}" if host else f"/{path}"


# ----------------------------------------------------------------------------- parsed URLs

_DEFAULT_PORTS = {"https": "443", "http": "80", "ssh": "22", "git": "9418", "oci": "443"}
_SCHEMES = ("https", "http", "ssh", "git", "file", "oci")
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
"""git's ``<transport>::<address>`` remote-helper syntax (``ext::sh -c …`` runs a command)."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:([^@/:\s]+)@)?([^@/:\s\[\]]+):(?!//)(.*)$")
_HOST = re.compile(r"^[a-z0-9._-]+$|^\[[0-9a-f:.]+\]$")


class RepoURLError(ValueError):
    """A repository URL Bosun refuses to use; the message names the URL and the reason."""


@dataclass(frozen=True)
class RepoURL:
    """A repository URL taken apart, in the form credentials are matched on.

    ``scheme`` is ``ssh`` for both ``ssh://user@host/path`` and scp-style ``user@host:path``;
    ``host`` is lowercased; ``port`` is empty when it is the scheme's default; ``path`` holds
    the path's segments, lowercased (Argo CD compares repo URLs case-insensitively), without
    empty segments or a final ``.git``. A local repository (``file://`` or a bare path) has
    scheme ``file`` and no host.
    """

    scheme: str
    host: str
    port: str
    user: str
    path: tuple[str, ...]

    @property
    def origin(self) -> tuple[str, str, str]:
        return (self.scheme, self.host, self.port)

    def names(self, other: RepoURL) -> bool:
        """Whether both name the same repository (a ``repository`` Secret's match)."""
        return self.origin == other.origin and self.user == other.user and self.path == other.path

    def covers(self, other: RepoURL) -> bool:
        """Whether ``other`` lies under this URL taken as a prefix (a ``repo-creds`` template's
        match): same scheme, host, port and SSH user, and this path's segments begin the other's
        — ``https://github.com/org`` covers ``https://github.com/org/app``, not
        ``https://github.com/organisation/app``, nor ``https://github.com@evil.example/org``."""
        return self.origin == other.origin and self.user == other.user and other.path[: len(self.path)] == self.path


def parse_repo_url(url: str) -> RepoURL:
    """``url`` taken apart (:class:`RepoURL`); :class:`RepoURLError` if it cannot be, or if
    it carries a password or, outside SSH, a user — a URL must not choose who git logs in as."""
    raw = url
    url = url.strip()
    if not url:
        raise RepoURLError("the repository URL is empty")
    if url.startswith("-"):
        raise RepoURLError(f"repository URL {raw!r} starts with '-' (git would read it as an option): refused")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise RepoURLError(f"repository URL {raw!r} contains whitespace or control characters: refused")
    if _TRANSPORT.match(url):
        raise RepoURLError(f"repository URL {raw!r} names a git transport helper ('<transport>::'): refused")
    scheme_match = _SCHEME.match(url)
    if scheme_match:
        scheme = scheme_match[1].lower()
        if scheme not in _SCHEMES:
            raise RepoURLError(f"repository URL {raw!r}: scheme {scheme!r} is not supported (use https, ssh or git)")
        if scheme == "file":
            return RepoURL("file", "", "", "", _segments(url[len("file://") :]))
        parts = urlsplit(url)
        netloc = parts.netloc
        user = ""
        if "@" in netloc:
            userinfo, _, netloc = netloc.rpartition("@")
            if scheme != "ssh" or ":" in userinfo or "@" in userinfo or not userinfo:
                raise RepoURLError(
                    f"repository URL {_without_userinfo(raw)!r} has a user or password before its host "
                    "(userinfo): refused; give credentials as a repository Secret (bosun repo add)"
                )
            user = userinfo
        host, port = _host_port(netloc, raw)
        return RepoURL(scheme, host, port if port != _DEFAULT_PORTS.get(scheme) else "", user, _segments(parts.path))
    scp = _SCP.match(url)
    if scp and not url.startswith(("/", ".")):
        user, host, path = scp[1] or "", scp[2].lower(), scp[3]
        if not _HOST.match(host):
            raise RepoURLError(f"repository URL {raw!r}: {host!r} is not a host name")
        return RepoURL("ssh", host, "", user, _segments(path))
    if "@" in url.split("/", 1)[0]:
        raise RepoURLError(f"repository URL {_without_userinfo(raw)!r} has a user before its host: refused")
    return RepoURL("file", "", "", "", _segments(url))


def check_repo_url(url: str, *, allow_local: bool) -> RepoURL:
    """``url`` parsed, if Bosun may fetch it: :class:`RepoURLError` for what :func:`parse_repo_url`
    refuses and, unless the operator enabled local repositories (``BOSUN_ALLOW_LOCAL_REPOS``), for a
    ``file://`` URL or a path on the worker's disk."""
    parsed = parse_repo_url(url)
    if parsed.scheme == "file" and not allow_local:
        raise RepoURLError(
            f"repository URL {url.strip()!r} is a local path: local repositories are disabled on this worker "
            "(set BOSUN_ALLOW_LOCAL_REPOS=true to enable them, for a local stack only)"
        )
    if parsed.scheme == "oci":
        raise RepoURLError(f"repository URL {url.strip()!r} is an OCI registry, not a git repository")
    return parsed


def git_protocols(*, allow_local: bool) -> str:
    """``GIT_ALLOW_PROTOCOL`` for every git that Bosun or a render tool (helm, kustomize) spawns:
    the network protocols, plus ``file`` (``file://`` and plain paths) only where the operator
    enabled local repositories. Every other transport — ``ext::`` (runs a command), ``fd::``,
    remote helpers — is then refused by git itself, whoever names it."""
    return "http:https:ssh:git" + (":file" if allow_local else "")


def _host_port(netloc: str, raw: str) -> tuple[str, str]:
    netloc = netloc.lower()
    if netloc.startswith("["):
        host, _, rest = netloc.partition("]")
        host += "]"
        port = rest.removeprefix(":")
    else:
        host, _, port = netloc.partition(":")
    if not host or not _HOST.match(host) or (port and not port.isdigit()):
        raise RepoURLError(f"repository URL {_without_userinfo(raw)!r}: {netloc!r} is not a host[:port]")
    return host, port


def _segments(path: str) -> tuple[str, ...]:
    segments = [s for s in path.lower().split("/") if s]
    if segments and segments[-1].endswith(".git"):
        segments[-1] = segments[-1].removesuffix(".git")
        if not segments[-1]:
            segments.pop()
    return tuple(segments)


def _without_userinfo(url: str) -> str:
    return re.sub(r"^(\w[\w+.-]*://)[^/]*@", r"\1***@", url.strip())
