"""The annexes as a Word document, rendered from a docxtpl template (layer 8).

The shipped template (``optimizer/templates/annex.docx``, made by
``optimizer/templates/make_template.py``) lays out Decree 30/2020; an office may pass its
own, restyled copy.  :func:`annex_context` is the one place that turns an
:class:`~optimizer.export.model.Annex` into the template's fields, and a test checks it
against the variables the template uses.  Values are XML-escaped (``autoescape``), so no
name can break the document.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import IO, Any

from docxtpl import DocxTemplate
from jinja2 import TemplateError
from lxml.etree import LxmlError

from optimizer.data import BLOCS
from optimizer.errors import InputError, Issue
from optimizer.export.files import atomic_output
from optimizer.export.labels import thousands
from optimizer.export.model import Annex, Counts, Person
from optimizer.i18n import t
from optimizer.io.outputs import GENERATOR

#: The template shipped with staffplan.
DEFAULT_TEMPLATE = resources.files("optimizer") / "templates" / "annex.docx"
DEFAULT_PATH = Path(str(DEFAULT_TEMPLATE))


def _figures(counts: Counts) -> dict[str, str]:
    return {
        "quota": thousands(counts.quota),
        "present": thousands(counts.present),
        "surplus": thousands(counts.surplus),
        "shortfall": thousands(counts.shortfall),
    }


def _person(p: Person) -> dict[str, Any]:
    return {
        "no": p.no,
        "name": p.name,
        "birth_male": p.birth_male,
        "birth_female": p.birth_female,
        "title": p.title,
        "former_unit": p.former_unit,
    }


def annex_context(annex: Annex) -> dict[str, Any]:
    """The template fields of an annex (texts ready to print, figures formatted).

    Parameters
    ----------
    annex
        What to write.

    Returns
    -------
    dict
        ``issuer_lines``, ``placement_title``, ``staffing_title``, ``surplus_title``,
        ``reference``, ``groups``, ``units``, ``unit_total``, ``positions``,
        ``position_total``, ``surplus``, ``signer_lines``, ``signer_name``, ``footer``
        (see ``make_template.py``).
    """
    groups = [
        {
            "label": g.label,
            "rows": [{**_person(p), "new_position": p.new_position, "note": p.note} for p in g.rows],
        }
        for g in annex.groups
    ]
    surplus = [
        {
            "label": g.label,
            "rows": [{**_person(p), "current_position": p.position, "reason": p.reason} for p in g.rows],
        }
        for g in annex.surplus
    ]
    units = [
        {
            "no": u.no,
            "name": u.unit_name,
            **{b: _figures(u.by_bloc[b]) for b in BLOCS},
            "total": _figures(u.total),
        }
        for u in annex.units
    ]
    return {
        "issuer_lines": list(annex.issuer_lines),
        "placement_title": annex.placement_title,
        "staffing_title": annex.staffing_title,
        "surplus_title": annex.surplus_title,
        "reference": annex.reference,
        "groups": groups,
        "surplus": surplus,
        "units": units,
        "unit_total": {
            **{b: _figures(annex.bloc_total(b)) for b in BLOCS},
            "total": _figures(annex.unit_total),
        },
        "positions": [{"no": p.no, "label": p.label, **_figures(p.counts)} for p in annex.positions],
        "position_total": _figures(annex.position_total),
        "signer_lines": list(annex.signer_lines),
        "signer_name": annex.signer_name,
        "footer": annex.footer,
    }


#: The fields :func:`annex_context` provides, for checking an office's template.
CONTEXT_FIELDS = (
    "issuer_lines", "placement_title", "staffing_title", "surplus_title", "reference", "groups",
    "surplus", "units", "unit_total", "positions", "position_total", "signer_lines", "signer_name",
    "footer",
)  # fmt: skip


def _template_issue(template: Path, key: str, hint_key: str, **kwargs: object) -> InputError:
    return InputError(
        [
            Issue(
                file=str(template),
                message=t(key, **kwargs),
                hint=t(hint_key, **kwargs),
                code=key,
            )
        ]
    )


def _open(template: Path | None, default: Path) -> IO[bytes]:
    return (template or default).open("rb")


def template_fields(template: Path | None = None, default: Path = DEFAULT_PATH) -> set[str]:
    """The fields a template uses (``default``, the shipped annex template, when
    ``template`` is ``None``).

    Raises
    ------
    InputError
        When the template is not a Word document docxtpl can read.
    """
    try:
        with _open(template, default) as fh:
            return set(DocxTemplate(fh).get_undeclared_template_variables())
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, LxmlError, TemplateError) as exc:
        raise _template_issue(
            template or default, "export.bad_template", "export.bad_template_hint", error=exc
        ) from exc


def check_template(
    template: Path | None, fields: Sequence[str] = CONTEXT_FIELDS, default: Path = DEFAULT_PATH
) -> None:
    """Check that a template can be read and uses only the given fields (those the annex
    provides, by default).

    Raises
    ------
    InputError
        When the file is unreadable or uses unknown fields (all listed).
    """
    unknown = sorted(template_fields(template, default) - set(fields))
    if unknown:
        raise _template_issue(
            template or default,
            "export.template_fields",
            "export.template_fields_hint",
            fields=", ".join(unknown),
            known=", ".join(fields),
        )


def render_docx(context: dict[str, Any], path: Path, template: Path | None, default: Path) -> Path:
    """Render a docxtpl template (``template``, else ``default``) into a Word file, its
    values XML-escaped; written atomically, readable by its owner only.  Returns ``path``."""
    with _open(template, default) as fh:
        doc = DocxTemplate(fh)
        doc.render(context, autoescape=True)
    props = doc.docx.core_properties  # the mark that makes it (and its PDF) staffplan's own
    props.keywords = "; ".join(k for k in (props.keywords, GENERATOR) if k)
    with atomic_output(path) as tmp:
        doc.save(str(tmp))
    return path


def write_annex_docx(annex: Annex, path: Path, template: Path | None = None) -> Path:
    """Render the annexes into a Word file.

    Parameters
    ----------
    annex
        What to write.
    path
        The ``.docx`` file; written atomically, readable by its owner only.
    template
        An office's own template (checked with :func:`check_template` first); ``None``
        for the shipped one.

    Returns
    -------
    Path
        ``path``.
    """
    return render_docx(annex_context(annex), path, template, DEFAULT_PATH)
