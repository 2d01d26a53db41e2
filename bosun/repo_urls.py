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
"""

from __future__ import annotations

import re
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
