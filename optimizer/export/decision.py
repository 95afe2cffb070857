"""The draft decision (Quyết định) with its annexes, per Decree 30/2020 (layer 8).

``staffplan export RUN --format decision`` writes one Word file: the decision itself on
A4 portrait — issuing body and number | national title, motto, place and date; "QUYẾT
ĐỊNH", its subject (trích yếu) and the deciding authority; the legal bases (căn cứ);
Articles 1–3; recipients (Nơi nhận) and the signature block — then Annexes I, II and III
in landscape sections, exactly as ``--format docx`` writes them.  The texts are drafts a
planner edits in Word: the bases and recipients have defaults from the message catalogue
and can be given on the command line.  The template is
``optimizer/templates/decision.docx`` (made by ``make_template.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from optimizer.export.docx_annex import CONTEXT_FIELDS, annex_context, check_template, render_docx
from optimizer.export.labels import nfc, thousands, vi
from optimizer.export.model import (
    TWO_LINE_BODIES,
    Annex,
    DocumentFields,
    build_annex,
    decision_date,
    decision_number,
)
from optimizer.store import StoredRun

#: The decision template shipped with staffplan.
DECISION_TEMPLATE = resources.files("optimizer") / "templates" / "decision.docx"
#: The fields :func:`decision_context` adds to those of the annexes.
DECISION_FIELDS = (
    *CONTEXT_FIELDS, "number", "place_date", "subject", "authority", "bases", "articles", "recipients",
)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """Everything the draft decision says, ready to lay out, with its annexes."""

    annex: Annex
    number: str
    place_date: str
    subject: str
    authority: str
    bases: tuple[str, ...]
    articles: tuple[tuple[str, str], ...]
    recipients: tuple[str, ...]


def _lines(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in nfc(text).splitlines() if x.strip())


def place_name(fields: DocumentFields) -> str:
    """The place of the date line: ``--place``, else the issuer's name after its body
    ("Ủy ban nhân dân Thành phố Hồ Chí Minh" → "Thành phố Hồ Chí Minh"), else a blank."""
    if fields.place.strip():
        return nfc(fields.place).strip()
    issuer = " ".join(p.strip() for p in nfc(fields.issuer).split("|") if p.strip())
    folded = issuer.casefold()
    for body in TWO_LINE_BODIES:
        if folded.startswith(body + " "):
            return issuer[len(body) :].strip()
    return vi("export.annex.blank")


def _articles(annex: Annex, issuer: str) -> tuple[tuple[str, str], ...]:
    placed = sum(len(g.rows) for g in annex.groups)
    surplus = sum(len(g.rows) for g in annex.surplus)
    units = sum(1 for g in annex.groups if g.rows)
    first = vi(
        "export.decision.article1",
        people=thousands(placed),
        categories=annex.categories,
        units=thousands(units),
    )
    first += " " + (
        vi("export.decision.article1_surplus", people=thousands(surplus))
        if surplus
        else vi("export.decision.article1_no_surplus")
    )
    texts = (
        first,
        vi("export.decision.article2"),
        vi("export.decision.article3", issuer=issuer, where=annex.where),
    )
    return tuple((vi("export.decision.article", number=k), text) for k, text in enumerate(texts, start=1))


def build_decision(
    run: StoredRun,
    fields: DocumentFields,
    unit_ids: Sequence[str] | None = None,
    *,
    redact: bool = False,
) -> Decision:
    """Build the draft decision of a run (or of some of its units) with its annexes.

    Parameters
    ----------
    run
        A stored run with placements.
    fields
        Number, date, issuing body, signer, and optionally the place, the bases and the
        recipients (one per line; defaults from the catalogue).
    unit_ids
        Only these units; ``None`` for all.
    redact
        Initials and birth years in the annexes.

    Returns
    -------
    Decision
        The decision's texts and its :class:`~optimizer.export.model.Annex`.
    """
    annex = build_annex(run, fields, unit_ids, redact=redact)
    issuer = " ".join(p.strip() for p in nfc(fields.issuer).split("|") if p.strip())
    blank = vi("export.annex.blank")
    return Decision(
        annex=annex,
        number=vi("export.decision.number", number=decision_number(fields.decision_no)),
        place_date=vi(
            "export.decision.place_date", place=place_name(fields), date=decision_date(fields.date)
        ),
        subject=vi("export.decision.subject", categories=annex.categories, where=annex.where),
        authority=(issuer or blank).upper(),
        bases=_lines(fields.bases) or _lines(vi("export.decision.bases")),
        articles=_articles(annex, issuer or blank),
        recipients=_lines(fields.recipients) or _lines(vi("export.decision.recipients_list")),
    )


def decision_context(decision: Decision) -> dict[str, Any]:
    """The template fields of a decision: those of its annexes and :data:`DECISION_FIELDS`."""
    return {
        **annex_context(decision.annex),
        "number": decision.number,
        "place_date": decision.place_date,
        "subject": decision.subject,
        "authority": decision.authority,
        "bases": list(decision.bases),
        "articles": [{"title": title, "text": text} for title, text in decision.articles],
        "recipients": list(decision.recipients),
    }


def check_decision_template(template: Path | None) -> None:
    """Check an office's decision template (the shipped one when ``None``).

    Raises
    ------
    InputError
        When the file is unreadable or uses fields a decision does not provide.
    """
    check_template(template, DECISION_FIELDS, Path(str(DECISION_TEMPLATE)))


def write_decision_docx(decision: Decision, path: Path, template: Path | None = None) -> Path:
    """Render the decision and its annexes into one Word file (atomically, mode 0600).

    Returns
    -------
    Path
        ``path``.
    """
    return render_docx(decision_context(decision), path, template, Path(str(DECISION_TEMPLATE)))
