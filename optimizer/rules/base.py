"""What every rule of the registry has: an id, a summary and its switch (layer 2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """A hard rule id with what a planner can switch to relax it.

    ``switch`` is the ``[rules]`` setting and value that drops the rule entirely
    (``None`` when no setting does).
    """

    id: str
    summary: str
    switch: tuple[str, object] | None = None

    @property
    def setting(self) -> str:
        """The ``--set`` option of :attr:`switch` (empty without a switch)."""
        if self.switch is None:
            return ""
        key, value = self.switch
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return f"rules.{key}={text}"
