"""Times shown to planners: in the province's time zone, ``dd/mm/yyyy HH:MM`` (layer 1).

Runs are stored with an ISO 8601 time and its UTC offset (``2026-12-06T11:33:05+00:00``
on a server that runs in UTC).  A planner reads them in local time: ``Asia/Ho_Chi_Minh``
by default, another IANA zone with ``staffplan --tz`` or ``STAFFPLAN_TZ``.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

from optimizer.i18n import get_lang

#: The zone times are shown in unless ``STAFFPLAN_TZ`` or ``--tz`` names another.
DEFAULT_TZ = "Asia/Ho_Chi_Minh"
#: Environment variable naming the zone.
TZ_ENV = "STAFFPLAN_TZ"
#: Vietnam's offset, used when the system has no time-zone database.
VIETNAM_OFFSET = dt.timezone(dt.timedelta(hours=7), "+07")

_state: dict[str, str] = {}


def set_zone(name: str | None) -> None:
    """Show later times in zone ``name`` (``None``: back to ``STAFFPLAN_TZ`` or the default).

    Raises
    ------
    ValueError
        When ``name`` is not a known IANA time zone.
    """
    if name is None:
        _state.pop("zone", None)
        return
    zone_of(name)
    _state["zone"] = name


def zone_name() -> str:
    """The zone times are shown in: :func:`set_zone`'s, else ``STAFFPLAN_TZ``, else the default."""
    return _state.get("zone") or os.environ.get(TZ_ENV) or DEFAULT_TZ


def zone_of(name: str) -> dt.tzinfo:
    """The time zone called ``name`` (``Asia/Ho_Chi_Minh`` falls back to UTC+7 without a
    time-zone database).

    Raises
    ------
    ValueError
        When ``name`` is not a known zone.
    """
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        if name == DEFAULT_TZ:
            return VIETNAM_OFFSET
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as {DEFAULT_TZ}") from exc


def local_time(stamp: str, lang: str | None = None, *, seconds: bool = False) -> str:
    """An ISO 8601 time as a planner reads it in the shown zone.

    Parameters
    ----------
    stamp
        ``2026-12-06T11:33:05+00:00`` (a time without offset is taken as UTC).
    lang
        ``"vi"``: ``06/12/2026 18:33``; ``"en"``: ``2026-12-06 18:33``; default: current.
    seconds
        Also show the seconds.

    Returns
    -------
    str
        The local time, or ``stamp`` unchanged when it is not an ISO time.
    """
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(zone_of(zone_name()))
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return moment.strftime(("%d/%m/%Y " if (lang or get_lang()) == "vi" else "%Y-%m-%d ") + clock)
