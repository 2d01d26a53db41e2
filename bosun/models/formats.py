"""String formats that Argo CD fields use: Kubernetes names, repository URLs, Go
durations and cron schedules.

Each checker is a pure function that returns the parsed value or raises
:class:`ValueError` with a message that says what form was expected; the models turn
that into a :class:`~bosun.models.errors.ModelError` naming the field. Add a new format
as one more function here with its table row in ``tests/unit/test_models_application.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_DNS_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")


def check_dns1123_subdomain(value: str) -> str:
    """Kubernetes object names (``metadata.name``): lowercase alphanumerics, '-' and '.'."""
    if len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use a DNS-1123 subdomain (lowercase letters, "
            "digits, '-' and '.', starting and ending with a letter or digit, "
            "at most 253 characters)"
        )
    return value


def check_dns1123_label(value: str) -> str:
    """Kubernetes namespace names: lowercase alphanumerics and '-', at most 63."""
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid namespace: use a DNS-1123 label (lowercase letters, "
            "digits and '-', starting and ending with a letter or digit, "
            "at most 63 characters)"
        )
    return value


# scheme://rest for the transports Argo CD's repo-server speaks.
_URL_SCHEMES = ("https://", "http://", "ssh://", "file://", "oci://")
# scp-like git syntax: user@host:path (git@github.com:argoproj/argo-cd.git).
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:[^\s]+$")
# Helm OCI registries are written without a scheme when ``chart`` is set.
_BARE_OCI = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?/[^\s]+$")


def check_repo_url(value: str, *, chart: bool = False) -> str:
    """``repoURL``: https://, http://, ssh://, file://, oci://, or git@host:path; with a
    ``chart`` also a scheme-less Helm OCI registry (``registry-1.docker.io/bitnamicharts``).
    """
    if not value:
        raise ValueError("required: the Git or Helm repository URL")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r} is not a repository URL: it contains whitespace")
    lowered = value.lower()
    for scheme in _URL_SCHEMES:
        if lowered.startswith(scheme):
            if len(value) == len(scheme):
                raise ValueError(f"{value!r} is not a repository URL: nothing after {scheme}")
            return value
    if _SCP_LIKE.match(value) or (chart and _BARE_OCI.match(value)):
        return value
    raise ValueError(
        f"{value!r} is not a repository URL: use https://, http://, ssh://, "
        "git@host:path, file:// or oci://" + (" (or host/path for a Helm OCI registry)" if chart else "")
    )


_GO_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(value: str) -> timedelta:
    """Go's ``time.ParseDuration``: ``"300ms"``, ``"5s"``, ``"1h30m"``, ``"-1.5h"``, ``"0"``."""
    text = value
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return timedelta(0)
    if not text:
        raise ValueError(f"{value!r} is not a duration: use a Go duration such as 30s, 5m or 1h30m")
    seconds = 0.0
    pos = 0
    while pos < len(text):
        m = _GO_PART.match(text, pos)
        if m is None:
            hint = " (missing unit)" if text[pos:].replace(".", "").isdigit() else ""
            raise ValueError(f"{value!r} is not a duration{hint}: use a Go duration such as 30s, 5m or 1h30m")
        seconds += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    return timedelta(seconds=sign * seconds)


def parse_backoff_duration(value: str) -> timedelta:
    """Argo CD's retry backoff durations: a Go duration, or a bare integer of seconds."""
    if re.fullmatch(r"[+-]?\d+", value):
        return timedelta(seconds=int(value))
    try:
        return parse_go_duration(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a duration: use seconds (30) or a Go duration such as 30s, 5m or 1h30m"
        ) from None


_CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_CRON_FIELD = re.compile(r"^[A-Za-z0-9*/,?\-]+$")


def check_cron_schedule(value: str) -> str:
    """Sync window ``schedule``: a standard 5-field cron expression, as Argo CD parses it
    (``minute hour day-of-month month day-of-week``; no seconds, no ``@daily``); an
    optional ``TZ=``/``CRON_TZ=`` prefix is allowed like robfig/cron does."""
    fields = value.split()
    if fields and (fields[0].startswith("TZ=") or fields[0].startswith("CRON_TZ=")):
        fields = fields[1:]
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(
            f"{value!r} is not a cron schedule: expected 5 fields ({' '.join(_CRON_FIELDS)}), got {len(fields)}"
        )
    for name, field in zip(_CRON_FIELDS, fields, strict=True):
        if not _CRON_FIELD.match(field):
            raise ValueError(f"{value!r} is not a cron schedule: bad {name} field {field!r}")
    return value
