"""Sync windows: may an Application sync now, and when can that next change?

An AppProject's ``syncWindows`` (:class:`~bosun.models.project.SyncWindow`) allow or
deny syncs for a ``duration`` after each firing of a cron ``schedule``. This module
evaluates them the way Argo CD does (``SyncWindows.Matches`` / ``CanSync`` in
``pkg/apis/application/v1alpha1``), as a pure function of the windows, the app and a
moment supplied by the caller. It never reads a clock, so the ApplicationWorkflow can
call it with ``workflow.now()`` and sleep durably until ``next_change``::

    state = window_state(project.spec.sync_windows, app="shop", namespace="shop",
                         cluster_server="https://kubernetes.default.svc",
                         cluster_name="in-cluster", now=workflow.now())
    if not state.automated_allowed and state.next_change is not None:
        await workflow.sleep(state.next_change - workflow.now())

Matching
    A window applies to an app when one of its ``applications`` globs matches the app
    name, one of its ``namespaces`` globs matches the destination namespace, or one of
    its ``clusters`` globs matches the destination server or name. With ``andOperator``
    every list that is set must match instead. Globs are Argo CD's (gobwas, see
    :mod:`bosun.glob`); ``!`` is not a negation here, as in Argo CD.

Activity
    A window is active from each firing of ``schedule``, read as wall-clock time in
    ``timeZone`` (default UTC), until ``duration`` later: ``[firing, firing +
    duration)``. A ``TZ=``/``CRON_TZ=`` prefix on the schedule names its zone and wins
    over ``timeZone``. A local time that happens twice when clocks go back fires twice; a
    local time skipped when clocks go forward does not fire that day (robfig/cron, the
    library Argo CD uses, does the same when given a zone). Schedules are read as
    robfig/cron reads Argo CD's five fields (lists, ranges, steps, ``*``, ``?``, month
    and weekday names); what it rejects (``L``, ``W``, ``#``, ``7`` for Sunday, ``@daily``)
    is an error here too.

Decision (Argo CD's ``CanSync``)
    No matching window: everything may sync. An active matching deny window blocks
    automated syncs, and manual syncs too unless every active deny window has
    ``manualSync``; deny beats allow. Otherwise an active matching allow window lets
    everything sync. Otherwise, if allow windows match but none is active, automated
    syncs are blocked, and manual ones unless every such allow window has
    ``manualSync``. ``syncOverrun`` lets a sync that is already running continue: past
    the start of deny windows if every active deny window has it, past the end of
    allow windows if every inactive allow window has it (``overrun_allowed``).

Where Bosun differs from Argo CD, on purpose:

* Argo CD shifts the clock by the zone's offset *at the current instant* and then
  evaluates the cron expression in UTC, so around a DST change a window can open an
  hour early or late; Bosun evaluates the schedule in the zone.
* Argo CD's activity check is also exclusive at the firing instant itself. Bosun's
  half-open interval makes ``next_change`` exact: woken at ``next_change``, a caller
  sees the new state.
* An unknown ``timeZone`` is an error here (Argo CD logs it and uses UTC), as is an
  invalid glob (Argo CD treats it as matching nothing): guessing could open a window
  nobody meant to open. :class:`WindowError` names the window.

To extend: a new matching rule is one function next to :func:`_matches`; a new
decision rule belongs in :func:`_decide`, which sees only which matching windows are
active. Each new rule gets rows in ``tests/unit/fixtures/windows/cases.yaml``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from bosun import glob
from bosun.models.formats import parse_go_duration
from bosun.models.project import SyncWindow

__all__ = ["WindowError", "WindowState", "describe_window", "window_state"]

HORIZON = timedelta(days=366)
"""How far ahead ``next_change`` looks; beyond it, the state is reported as stable."""

_MAX_STEPS = 1000
"""Bound on the boundaries examined for one ``next_change``; when reached, the last one
examined is returned (the caller re-evaluates then), so cost stays bounded."""


class WindowError(ValueError):
    """A sync window cannot be evaluated: bad schedule, zone, duration or glob."""


class WindowState(BaseModel):
    """Whether an app may sync at one moment, and why not."""

    model_config = ConfigDict(frozen=True)

    automated_allowed: bool
    """An automated sync may start now."""
    manual_allowed: bool
    """A manual sync may start now."""
    overrun_allowed: bool
    """A sync that started while it was allowed may keep running now (``syncOverrun``)."""
    active: list[str]
    """The active matching windows, described by :func:`describe_window`."""
    matching: list[str]
    """Every window that applies to this app, active or not (Argo CD's "assigned")."""
    reason: str
    """Why an automated sync is blocked; "" when it is allowed."""
    next_change: datetime | None
    """The earliest moment after ``now`` at which ``automated_allowed`` changes, or None
    if it does not within :data:`HORIZON`. For windows too dense to follow (thousands of
    boundaries before a change) it is an earlier moment at which to look again."""


def describe_window(window: SyncWindow) -> str:
    """``deny 0 22 * * * for 1h (Europe/Paris)``, then ``: description`` if it has one."""
    text = f"{window.kind} {window.schedule} for {window.duration} ({_zone_name(window)})"
    return f"{text}: {window.description}" if window.description else text


def window_state(
    windows: Sequence[SyncWindow],
    *,
    app: str,
    namespace: str,
    cluster_server: str,
    cluster_name: str,
    now: datetime,
) -> WindowState:
    """Evaluate ``windows`` (a project's ``syncWindows``) for one app at ``now``.

    ``now`` must be timezone-aware. Raises :class:`WindowError` for a window that
    cannot be evaluated; non-matching windows are checked only for their globs.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (use workflow.now())")
    now = now.astimezone(UTC)
    matching = [
        _Window.compile(index, w)
        for index, w in enumerate(windows)
        if _matches(index, w, app, namespace, cluster_server, cluster_name)
    ]
    statuses = [w.status(now) for w in matching]
    decision = _decide(matching, [active for active, _ in statuses])
    return WindowState(
        automated_allowed=decision.automated,
        manual_allowed=decision.manual,
        overrun_allowed=decision.overrun,
        active=[w.text for w, (active, _) in zip(matching, statuses, strict=True) if active],
        matching=[w.text for w in matching],
        reason=decision.reason,
        next_change=_next_change(matching, statuses, decision.automated, now),
    )


# --- matching ---------------------------------------------------------------------------


def _matches(index: int, w: SyncWindow, app: str, namespace: str, server: str, name: str) -> bool:
    """Argo CD's ``SyncWindows.Matches`` for one window: OR of the lists that match, or
    with ``andOperator`` AND of the lists that are set."""
    results: list[bool] = []
    if w.applications:
        results.append(_any_glob(index, w, w.applications, [app]))
    if w.clusters:
        results.append(_any_glob(index, w, w.clusters, [v for v in (name, server) if v]))
    if w.namespaces:
        results.append(_any_glob(index, w, w.namespaces, [namespace]))
    if w.and_operator:
        return bool(results) and all(results)
    return any(results)


def _any_glob(index: int, w: SyncWindow, patterns: list[str], values: list[str]) -> bool:
    for pattern in patterns:
        for value in values:
            try:
                if glob.match_with_error(pattern, value):
                    return True
            except glob.GlobError as err:
                raise _error(index, w, f"invalid pattern glob {pattern!r}: {err.reason}") from None
    return False


# --- decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decision:
    automated: bool
    manual: bool
    overrun: bool
    reason: str


def _decide(windows: Sequence[_Window], active: Sequence[bool]) -> _Decision:
    """Argo CD's ``CanSync`` over the matching windows and which of them are active."""
    active_denies = [w for w, a in zip(windows, active, strict=True) if a and w.deny]
    if active_denies:
        return _Decision(
            automated=False,
            manual=all(w.window.manual_sync for w in active_denies),
            overrun=all(w.window.sync_overrun for w in active_denies),
            reason="blocked by active deny window: " + "; ".join(w.text for w in active_denies),
        )
    if any(a and not w.deny for w, a in zip(windows, active, strict=True)):
        return _Decision(automated=True, manual=True, overrun=True, reason="")
    inactive_allows = [w for w in windows if not w.deny]
    if inactive_allows:
        return _Decision(
            automated=False,
            manual=all(w.window.manual_sync for w in inactive_allows),
            overrun=all(w.window.sync_overrun for w in inactive_allows),
            reason="no allow window is active: " + "; ".join(w.text for w in inactive_allows),
        )
    return _Decision(automated=True, manual=True, overrun=True, reason="")


def _next_change(
    windows: Sequence[_Window],
    statuses: list[tuple[bool, datetime | None]],
    automated: bool,
    now: datetime,
) -> datetime | None:
    """Walk the windows' boundaries in time order until ``automated`` flips.

    Only boundaries that can change the decision are visited: while a deny window is
    active, only the ends of the active deny windows; while inactive allow windows
    block, only the allow windows' starts. Every window is re-evaluated at each one.
    """
    limit = now + HORIZON
    t = now
    for _ in range(_MAX_STEPS):
        active_denies = [i for i, w in enumerate(windows) if w.deny and statuses[i][0]]
        if active_denies:
            relevant = active_denies
        elif automated:
            relevant = list(range(len(windows)))
        else:
            relevant = [i for i, w in enumerate(windows) if not w.deny]
        flips = [statuses[i][1] for i in relevant]
        if active_denies and None in flips:
            return None  # a deny window stays active past the horizon
        upcoming = [flip for flip in flips if flip is not None]
        if not upcoming:
            return None
        # While deny windows are active, nothing changes before the last of them ends.
        t = max(upcoming) if active_denies else min(upcoming)
        if t > limit:
            return None
        statuses = [w.status(t) for w in windows]
        if _decide(windows, [active for active, _ in statuses]).automated != automated:
            return t
    return t


# --- one window's schedule --------------------------------------------------------------

_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    # name, minimum, maximum, names for the values from the minimum up
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day-of-week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class _Cron:
    """A 5-field schedule read as robfig/cron (Argo CD's parser) reads it: lists, ranges,
    steps (``N/step`` means ``N-max/step``), ``*`` and ``?``, month and weekday names.
    When both day-of-month and day-of-week are restricted, a day matching either fires.

    Parsed here rather than with croniter, which runs a subprocess when imported
    (``platform.architecture()``) and accepts syntax Argo CD rejects (``L``, ``#``, ``W``).
    """

    seconds_of_day: tuple[int, ...]
    months: frozenset[int]
    days_of_month: frozenset[int]
    days_of_week: frozenset[int]
    either_day: bool

    @classmethod
    def parse(cls, schedule: str) -> _Cron:
        texts = schedule.split()
        if len(texts) != len(_FIELDS):
            raise ValueError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(texts)}")
        parsed = [_parse_field(text, *spec) for text, spec in zip(texts, _FIELDS, strict=True)]
        (minutes, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = parsed
        return cls(
            seconds_of_day=tuple(sorted(h * 3600 + m * 60 for h in hours for m in minutes)),
            months=months,
            days_of_month=doms,
            days_of_week=dows,
            either_day=not (dom_star or dow_star),
        )

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days_of_month
        dow = (day.weekday() + 1) % 7 in self.days_of_week
        return (dom or dow) if self.either_day else (dom and dow)


def _parse_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> tuple[frozenset[int], bool]:
    """One field: its values, and whether robfig marks it unrestricted (``*`` or ``?``
    without a step above 1), which decides how the two day fields combine."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_text, *steps = part.split("/")
        bounds = range_text.split("-")
        if len(steps) > 1 or len(bounds) > 2:
            raise ValueError(f"{name} field: cannot read {part!r}")
        part_star = bounds[0] in ("*", "?")
        if part_star:
            start, end = low, high
        else:
            start = _field_number(bounds[0], name, low, names)
            end = _field_number(bounds[-1], name, low, names)
        step = 1
        if steps:
            step = _field_number(steps[0], name, 0, ())
            if len(bounds) == 1:
                end = high
            part_star = part_star and step <= 1
        if start < low or end > high:
            raise ValueError(f"{name} field: {part!r} is outside {low}-{high}")
        if start > end:
            raise ValueError(f"{name} field: range {part!r} starts after it ends")
        if step == 0:
            raise ValueError(f"{name} field: the step in {part!r} must be positive")
        values.update(range(start, end + 1, step))
        star = star or part_star
    return frozenset(values), star


def _field_number(text: str, name: str, low: int, names: tuple[str, ...]) -> int:
    if text.lower() in names:
        return low + names.index(text.lower())
    if not (text.isascii() and text.isdigit()):
        hint = f" or a name ({names[0]}-{names[-1]})" if names else ""
        raise ValueError(f"{name} field: {text!r} is not a number{hint}")
    return int(text)


class _Day(NamedTuple):
    """The firings of one local day: ``base + seconds[j]``, ascending; ``gaps[k]`` are
    the indices j after which the next firing of the day is more than a duration away."""

    base: datetime
    seconds: Sequence[int]
    gaps: Sequence[int]

    def at(self, j: int) -> datetime:
        return self.base + timedelta(seconds=self.seconds[j])

    def offset_of(self, t: datetime) -> float:
        return (t - self.base).total_seconds()


@dataclass(frozen=True)
class _Window:
    """A matching window, parsed: its schedule in its zone, and its duration.

    Firings are found day by day in the zone's calendar. On a day without a UTC offset
    change they are a fixed list of offsets from local midnight, searched by bisection,
    so even a window firing every minute costs a few operations per day.
    """

    window: SyncWindow
    text: str
    deny: bool
    cron: _Cron
    zone: ZoneInfo
    duration: timedelta
    plain_gaps: tuple[int, ...]
    days: dict[date, _Day | None] = field(default_factory=dict, compare=False)

    @classmethod
    def compile(cls, index: int, w: SyncWindow) -> _Window:
        prefix_zone, schedule = _split_schedule(w.schedule)
        zone_name = prefix_zone or w.time_zone or "UTC"
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise _error(index, w, f"unknown time zone {zone_name!r}") from None
        try:
            cron = _Cron.parse(schedule)
        except ValueError as err:
            raise _error(index, w, f"invalid cron schedule {w.schedule!r}: {err}") from None
        try:
            duration = parse_go_duration(w.duration)
        except ValueError as err:
            raise _error(index, w, str(err)) from None
        gaps = _gaps(cron.seconds_of_day, duration)
        return cls(w, describe_window(w), w.kind == "deny", cron, zone, duration, gaps)

    def status(self, t: datetime) -> tuple[bool, datetime | None]:
        """Whether the window is active at ``t``, and the first moment after ``t`` at
        which that changes (None if not within :data:`HORIZON`)."""
        if self.duration <= timedelta(0):
            return False, None  # as in Argo CD, an empty window is never active
        limit = t + HORIZON
        last = self._last_firing(t, after=t - self.duration)
        if last is None:
            return False, self._next_firing(t, until=limit)
        # Active: the run of overlapping (or touching) occurrences ends at the first
        # firing from ``last`` on that is followed by a gap longer than the duration.
        current = last
        while True:
            day = self._day(_wall(current, self.zone).date())
            if day is None:  # unreachable: ``current`` is a firing of that day
                return True, current + self.duration
            j = bisect_left(day.seconds, day.offset_of(current))
            k = bisect_left(day.gaps, j)
            if k < len(day.gaps):
                return True, day.at(day.gaps[k]) + self.duration
            end = day.at(len(day.seconds) - 1) + self.duration
            if end > limit:
                return True, None
            following = self._next_firing(end - self.duration, until=end)
            if following is None:
                return True, end
            current = following

    def _last_firing(self, t: datetime, *, after: datetime) -> datetime | None:
        """The latest firing at or before ``t`` if it is later than ``after``."""
        day, stop = _wall(t, self.zone).date() + _ONE_DAY, _wall(after, self.zone).date()
        best: datetime | None = None
        while day >= stop - _ONE_DAY:
            found = self._day(day)
            if found is not None:
                j = bisect_right(found.seconds, found.offset_of(t)) - 1
                if j >= 0:
                    candidate = found.at(j)
                    if best is not None:  # the day before can overlap after a DST change
                        best = max(best, candidate)
                        break
                    best = candidate
            elif best is not None:
                break
            day -= _ONE_DAY
        return best if best is not None and best > after else None

    def _next_firing(self, t: datetime, *, until: datetime) -> datetime | None:
        """The earliest firing strictly after ``t`` if it is not later than ``until``."""
        day, stop = _wall(t, self.zone).date() - _ONE_DAY, _wall(until, self.zone).date()
        best: datetime | None = None
        while day <= stop + _ONE_DAY:
            found = self._day(day)
            if found is not None:
                j = bisect_right(found.seconds, found.offset_of(t))
                if j < len(found.seconds):
                    candidate = found.at(j)
                    if best is not None:  # the day after can overlap after a DST change
                        best = min(best, candidate)
                        break
                    best = candidate
            elif best is not None:
                break
            day += _ONE_DAY
        return best if best is not None and best <= until else None

    def _day(self, day: date) -> _Day | None:
        if day not in self.days:
            self.days[day] = self._compute_day(day)
        return self.days[day]

    def _compute_day(self, day: date) -> _Day | None:
        if not self.cron.fires_on(day) or not self.cron.seconds_of_day:
            return None
        midnight = datetime.combine(day, time())
        start = self._single_instant(midnight)
        end = self._single_instant(midnight + timedelta(seconds=86399))
        if start is not None and end is not None and end - start == timedelta(seconds=86399):
            # No offset change today: wall time and UTC move together.
            return _Day(start, self.cron.seconds_of_day, self.plain_gaps)
        instants = sorted(
            u for s in self.cron.seconds_of_day for u in _instants(midnight + timedelta(seconds=s), self.zone)
        )
        if not instants:
            return None
        seconds = [int((u - instants[0]).total_seconds()) for u in instants]
        return _Day(instants[0], seconds, _gaps(seconds, self.duration))

    def _single_instant(self, wall: datetime) -> datetime | None:
        found = _instants(wall, self.zone)
        return found[0] if len(found) == 1 else None


def _gaps(seconds: Sequence[int], duration: timedelta) -> tuple[int, ...]:
    return tuple(j for j in range(len(seconds) - 1) if timedelta(seconds=seconds[j + 1] - seconds[j]) > duration)


def _instants(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants whose wall-clock time in ``zone`` is ``wall``: none in a
    spring-forward gap, two in a fall-back overlap."""
    found: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if _wall(instant, zone) == wall and instant not in found:
            found.append(instant)
    return sorted(found)


def _wall(t: datetime, zone: ZoneInfo) -> datetime:
    return t.astimezone(zone).replace(tzinfo=None, fold=0)


def _split_schedule(schedule: str) -> tuple[str, str]:
    """``"TZ=Europe/Paris 0 22 * * *"`` -> ``("Europe/Paris", "0 22 * * *")``."""
    fields = schedule.split()
    if fields and fields[0].startswith(("TZ=", "CRON_TZ=")):
        return fields[0].split("=", 1)[1], " ".join(fields[1:])
    return "", " ".join(fields)


def _zone_name(w: SyncWindow) -> str:
    return _split_schedule(w.schedule)[0] or w.time_zone or "UTC"


def _error(index: int, w: SyncWindow, problem: str) -> WindowError:
    return WindowError(f"syncWindows[{index}] ({describe_window(w)}): {problem}")
