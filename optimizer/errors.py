"""Errors that carry every input problem at once, and warnings for suspicious input.

A bad input is never a traceback: loaders and validators collect :class:`Issue`
records (file, sheet, Excel row, column, value, what is wrong, what to do) and raise
one :class:`InputError` holding all of them.  The CLI prints them and exits with 2.
Texts are already translated (see :mod:`optimizer.i18n`) when an issue is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One problem in the input, located as a planner would find it in Excel.

    ``row`` is the Excel row number (the header is row 1, the first data row is 2);
    ``None`` where the problem concerns a whole file, table or column.
    """

    file: str
    message: str
    hint: str = ""
    sheet: str = ""
    row: int | None = None
    column: str = ""
    value: str = ""
    severity: Severity = "error"
    code: str = ""  # stable machine id of the check, e.g. "unique", "post_min_unreachable"

    def location(self) -> str:
        """``file[#sheet]:row:column`` with the parts that are known."""
        parts = [self.file + (f"#{self.sheet}" if self.sheet else "")]
        if self.row is not None:
            parts.append(str(self.row))
        if self.column:
            parts.append(self.column)
        return ":".join(parts)


class InputError(Exception):
    """The input cannot be used; ``issues`` lists every problem found (errors first)."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues, key=lambda i: i.severity != "error")
        first = self.issues[0] if self.issues else None
        super().__init__(
            f"{len(self.errors)} input error(s)"
            + (f"; first: {first.location()}: {first.message}" if first else "")
        )

    @property
    def errors(self) -> list[Issue]:
        """The issues of severity ``error``."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """The issues of severity ``warning``."""
        return [i for i in self.issues if i.severity == "warning"]
