"""Scenario files: TOML with ``extends``, validated by pydantic, overridden by ``--set``.

A scenario (DESIGN §6) names its data tables and its ``[rules]``, ``[objective]`` and
``[solver]`` tables.  ``extends = "base.toml"`` (relative to the file; chains allowed)
merges the file over its base, table by table, the child winning key by key.  Two
exceptions: ``name`` and ``description`` belong to each file and are never inherited,
and a file that sets ``objective.priorities`` drops the ``weights`` it inherits (and
vice versa), since a scenario has one or the other.

Data paths are resolved when their file is read, against that file's folder, so a base
file's paths stay relative to the base.  ``--set key=value`` overrides (dotted keys, the
value read as a TOML value, else as text) apply after the merge; a data path given by
``--set`` is relative to the working folder.  Unknown keys and bad values become one
:class:`~optimizer.errors.InputError` naming the key, the file and the closest valid key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import math
import os
import re
import tomllib
import typing
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from optimizer.data import TERMS, Objective, Rules, SolverParams
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.io.tables import TableSource, display_path
from optimizer.labels import parse_day

#: Tables a scenario must name in ``[data]``.
REQUIRED_TABLES = ("units", "posts", "staff")
#: ``[data]`` entries that are files but not tables (not read by :func:`load_problem`).
DATA_FILES = ("geojson",)

SET_SOURCE = "--set"
#: Largest scenario file read, in bytes (a scenario is a few hundred bytes).
MAX_SCENARIO_BYTES = 1 << 20
#: Deepest nesting of tables and arrays accepted in a scenario or a ``--set`` value.
MAX_NESTING = 16
#: Largest objective weight: weight × term must stay far inside the solver's 64-bit costs.
MAX_WEIGHT = 10**9
#: Dates a scenario may hold (``reference_date``).
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2100, 12, 31))


def _not_bool(value: Any) -> Any:
    """A boolean is not a number: ``max_commute_km = true`` is refused, not read as 1."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "a boolean is not a number")
    return value


def _date_in_range(value: dt.date) -> dt.date:
    if not DATE_RANGE[0] <= value <= DATE_RANGE[1]:
        raise PydanticCustomError("date_range", "date out of range")
    return value


#: A number (int or float field) that may not be written ``true`` or ``false``.
NotBool = BeforeValidator(_not_bool)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataModel(_Strict):
    """``[data]``: a path per table (``"book.xlsx#sheet"`` for a sheet), plus ``geojson``."""

    units: str | None = None
    posts: str | None = None
    staff: str | None = None
    relations: str | None = None
    pins: str | None = None
    geojson: str | None = None


_RULE_BOUNDS: dict[str, Any] = {
    "max_commute_km": Field(gt=0, le=20_000, allow_inf_nan=False),
    "road_factor": Field(ge=1, le=10, allow_inf_nan=False),
    "long_commute_km": Field(ge=0, le=20_000, allow_inf_nan=False),
    "min_service_months": Field(ge=0, le=1200),
}


def _rules_model() -> type[BaseModel]:
    """``[rules]``: exactly the fields of :class:`optimizer.data.Rules`, same defaults."""
    hints = typing.get_type_hints(Rules)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(Rules):
        annotation = hints[f.name]
        if f.name in _RULE_BOUNDS:
            annotation = Annotated[annotation, _RULE_BOUNDS[f.name], NotBool]
        elif annotation is dt.date:
            annotation = Annotated[annotation, AfterValidator(_date_in_range)]
        fields[f.name] = (annotation, f.default)
    return create_model("RulesModel", __base__=_Strict, __doc__="``[rules]``: the fields of Rules.", **fields)


RulesModel = _rules_model()


#: One objective weight: a number (not a boolean), finite, at most :data:`MAX_WEIGHT`.
Weight = Annotated[int | float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False), NotBool]


class ObjectiveModel(_Strict):
    """``[objective]``: lexicographic ``priorities`` or ``weights`` (names from TERMS)."""

    priorities: list[str] | None = None
    weights: (
        dict[str, Annotated[int | float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False), NotBool]] | None
    ) = None


class SolverModel(_Strict):
    """``[solver]``: time limit, CP-SAT workers, random seed."""

    time_limit_s: Annotated[float, NotBool] = Field(default=SolverParams.time_limit_s, gt=0)
    workers: Annotated[int, NotBool] = Field(default=SolverParams.workers, ge=1, le=1024)
    seed: Annotated[int, NotBool] = Field(default=SolverParams.seed, ge=0, le=2**31 - 1)


class ScenarioModel(_Strict):
    """A whole scenario file (every table optional in a single file of a chain)."""

    name: str | None = None
    extends: str | None = None
    description: str = ""
    data: DataModel = Field(default_factory=DataModel)
    rules: RulesModel = Field(default_factory=RulesModel)  # type: ignore[valid-type]
    objective: ObjectiveModel = Field(default_factory=ObjectiveModel)
    solver: SolverModel = Field(default_factory=SolverModel)


def _valid_keys() -> list[str]:
    keys: list[str] = []
    for name, info in ScenarioModel.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys.extend(f"{name}.{k}" for k in sub.model_fields)
        else:
            keys.append(name)
    return keys


#: Every key a scenario may set, dotted (``rules.max_commute_km``).
VALID_KEYS = tuple(_valid_keys())


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario.

    Attributes
    ----------
    name
        The scenario's ``name`` (else the file name without suffix).
    path
        The scenario file (absolute).
    description
        One paragraph for ``staffplan show``.
    data
        Table (or ``geojson``) → absolute path of the file.  A workbook sheet is the
        workbook's path here and the sheet's name in :attr:`sheets`; :meth:`source`
        gives both.
    sheets
        Table → sheet name, for tables read from a named sheet of a workbook.
    rules, objective, solver
        The ``[rules]``, ``[objective]`` and ``[solver]`` tables.
    overrides
        The ``--set key=value`` strings applied, in order.
    chain
        The scenario file, then the file it extends, and so on.
    """

    name: str
    path: Path
    description: str
    data: dict[str, Path]
    sheets: dict[str, str]
    rules: Rules
    objective: Objective
    solver: SolverParams
    overrides: tuple[str, ...] = ()
    chain: tuple[Path, ...] = ()
    chain_digests: tuple[str, ...] = field(default=(), repr=False)

    def source(self, table: str) -> TableSource | None:
        """Where ``table`` is read from, or ``None`` when the scenario does not name it."""
        path = self.data.get(table)
        return None if path is None else TableSource(path, self.sheets.get(table))

    def resolved(self) -> dict[str, Any]:
        """The fully merged scenario as JSON-able data (paths as text, dates ISO 8601).

        Data entries use the scenario notation, ``"/abs/book.xlsx#sheet"`` for a sheet.
        """
        rules = {
            k: (v.isoformat() if isinstance(v, dt.date) else v)
            for k, v in dataclasses.asdict(self.rules).items()
        }
        objective: dict[str, Any] = (
            {"weights": user_weights(self.objective)}
            if self.objective.weights is not None
            else {"priorities": list(self.objective.priorities)}
        )
        return {
            "name": self.name,
            "description": self.description,
            "path": str(self.path),
            "extends": [str(p) for p in self.chain[1:]],
            "data": {k: str(self.source(k)) for k in self.data},
            "rules": rules,
            "objective": objective,
            "solver": dataclasses.asdict(self.solver),
            "overrides": list(self.overrides),
        }

    def file_hash(self) -> str:
        """SHA-256 of the scenario file and every file it extends, as read at load time.

        The hash of the concatenated per-file SHA-256 digests, scenario file first.
        """
        return hashlib.sha256("".join(self.chain_digests).encode("ascii")).hexdigest()

    def input_files(self) -> list[Path]:
        """Every file the scenario reads: its chain of scenario files and its data files."""
        return [*self.chain, *self.data.values()]

    def input_hashes(self) -> dict[str, str]:
        """SHA-256 of each data file, by table name (a workbook is hashed whole)."""
        return {table: _sha256_file(path) for table, path in self.data.items()}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- issues


def _issue(
    file: str,
    code: str,
    key: str = "",
    value: object = "",
    row: int | None = None,
    hint: str | None = None,
    **kw: object,
) -> Issue:
    """An error about a scenario file; message ``io.<code>``, hint ``io.<code>.hint``."""
    shown = "" if isinstance(value, str) and value == "" else _show(value)
    return Issue(
        file=file,
        row=row,
        column=key,
        value=shown,
        message=t(f"io.{code}", key=key, value=shown, **kw),
        hint=hint if hint is not None else t(f"io.{code}.hint", key=key, value=shown, **kw),
        code=code,
    )


def _show(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, dict | list) else str(value)


def _suggest(dotted: str) -> str:
    """The closest valid key to an unknown dotted key ("" if none is close)."""
    leaf = dotted.rsplit(".", 1)[-1]
    same_leaf = [k for k in VALID_KEYS if k.rsplit(".", 1)[-1] == leaf]
    if same_leaf:
        return same_leaf[0]
    close = difflib.get_close_matches(dotted, VALID_KEYS, n=1, cutoff=0.6)
    if close:
        return close[0]
    leaves = {k.rsplit(".", 1)[-1]: k for k in VALID_KEYS}
    close = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.6)
    return leaves[close[0]] if close else ""


def _unknown_key_issue(file: str, dotted: str) -> Issue:
    suggestion = _suggest(dotted)
    hint = (
        t("io.did_you_mean", suggestion=suggestion)
        if suggestion
        else t("io.unknown_key.hint", valid=", ".join(VALID_KEYS))
    )
    return _issue(file, "unknown_key", dotted, hint=hint)


_EXPECT = {
    "float_parsing": "number",
    "float_type": "number",
    "finite_number": "number",
    "int_parsing": "integer",
    "int_type": "integer",
    "int_from_float": "integer",
    "bool_parsing": "bool",
    "bool_type": "bool",
    "date_parsing": "date",
    "date_type": "date",
    "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date",
    "string_type": "text",
    "list_type": "list",
    "dict_type": "table",
    "model_type": "table",
    "model_attributes_type": "table",
}


def _expected(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        return t("io.expect.choice", choices=ctx.get("expected", ""))
    if kind == "greater_than":
        return t("io.expect.gt", limit=ctx.get("gt"))
    if kind == "greater_than_equal":
        return t("io.expect.ge", limit=ctx.get("ge"))
    if kind == "less_than_equal":
        return t("io.expect.le", limit=ctx.get("le"))
    if kind == "date_range":
        return t("io.expect.date_range", first=DATE_RANGE[0].year, last=DATE_RANGE[1].year)
    if kind == "bool_not_number":
        return t("io.expect.not_bool")
    return t(f"io.expect.{_EXPECT.get(kind, 'valid')}")


def _provenance_of(loc: tuple[str, ...], provenance: dict[str, str], default: str) -> str:
    for n in range(len(loc), 0, -1):
        label = provenance.get(".".join(loc[:n]))
        if label is not None:
            return label
    return default


# --------------------------------------------------------------------------- merging


@dataclass
class _Layer:
    path: Path
    doc: dict[str, Any]
    digest: str


def _read_layer(path: Path, referrer: str | None) -> _Layer:
    label = display_path(path)
    if not path.is_file():
        raise InputError(
            [
                _issue(
                    referrer or label,
                    "scenario_not_found",
                    "extends" if referrer else "",
                    str(path),
                )
            ]
        )
    if referrer is None and TableSource(path).kind != "unknown":  # a table, not a scenario
        raise InputError([_issue(label, "scenario_is_table", value=path.name, name=path.name)])
    if path.stat().st_size > MAX_SCENARIO_BYTES:
        raise InputError([_issue(label, "scenario_too_large", limit=MAX_SCENARIO_BYTES // 1024)])
    content = path.read_bytes()
    try:
        doc = tomllib.loads(content.decode("utf-8-sig"))
        if _depth(doc) > MAX_NESTING:
            raise RecursionError
    except UnicodeDecodeError:
        raise InputError([_issue(label, "scenario_encoding")]) from None
    except RecursionError:
        raise InputError([_issue(label, "scenario_nesting", limit=MAX_NESTING)]) from None
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(where.group(1)), int(where.group(2))) if where else (None, 0)
        raise InputError([_issue(label, "scenario_syntax", row=line, line=line or "?", col=col)]) from None
    return _Layer(path, doc, hashlib.sha256(content).hexdigest())


def _depth(value: object) -> int:
    """How deeply tables and arrays nest in a parsed TOML value (without recursion)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if depth + 1 > MAX_NESTING:
                break
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _absolute(path: Path, base_dir: Path) -> Path:
    """``path`` made absolute against ``base_dir`` and normalised (``..`` removed)."""
    path = path.expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base_dir / path))


def _read_chain(path: Path) -> list[_Layer]:
    """The scenario file and its ``extends`` ancestors, scenario file first."""
    layers: list[_Layer] = []
    seen: set[Path] = set()
    current, referrer = path, None
    while True:
        key = current.resolve()
        if key in seen:
            raise InputError(
                [_issue(display_path(layers[-1].path), "scenario_cycle", "extends", str(current))]
            )
        seen.add(key)
        layer = _read_layer(current, referrer)
        layers.append(layer)
        parent = layer.doc.get("extends")
        if parent is None:
            return layers
        if not isinstance(parent, str):
            label = display_path(current)
            raise InputError([_issue(label, "bad_value", "extends", parent, expected=t("io.expect.text"))])
        referrer = display_path(current)
        current = _absolute(Path(parent), layer.path.parent)


def _resolve_data(doc: dict[str, Any], base_dir: Path) -> None:
    """Rewrite a file's ``[data]`` paths as absolute ``TableSource`` notation, in place."""
    data = doc.get("data")
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if isinstance(value, str) and value.strip():
            data[key] = str(TableSource.parse(value.strip(), base_dir))


def _exclusive_objective(target: dict[str, Any], incoming: dict[str, Any]) -> None:
    """A layer that sets priorities drops inherited weights, and the reverse."""
    if "priorities" in incoming and "weights" not in incoming:
        target.pop("weights", None)
    if "weights" in incoming and "priorities" not in incoming:
        target.pop("priorities", None)


def _merge(
    base: dict[str, Any],
    child: dict[str, Any],
    label: str,
    provenance: dict[str, str],
    prefix: str = "",
) -> None:
    """Deep-merge ``child`` into ``base`` in place, recording where each leaf came from."""
    if prefix == "objective.":
        _exclusive_objective(base, child)
    for key, value in child.items():
        dotted = prefix + key
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, label, provenance, dotted + ".")
        else:
            base[key] = value
            provenance[dotted] = label


def _apply_override(
    merged: dict[str, Any], text: str, provenance: dict[str, str], issues: list[Issue]
) -> None:
    key, sep, raw_value = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or not all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        issues.append(_issue(SET_SOURCE, "bad_set", value=text))
        return
    if key == "extends":
        issues.append(_issue(SET_SOURCE, "set_extends", key))
        return
    raw_value = raw_value.strip()
    try:
        value: Any = tomllib.loads(f"v = {raw_value}")["v"]
        if _depth(value) > MAX_NESTING:
            raise RecursionError
    except tomllib.TOMLDecodeError:
        value = parse_day(raw_value) or raw_value  # a date may be written dd/mm/yyyy
    except RecursionError:
        issues.append(_issue(SET_SOURCE, "scenario_nesting", key, limit=MAX_NESTING))
        return
    if parts[0] == "data" and len(parts) == 2 and isinstance(value, str) and value:
        value = str(TableSource.parse(value, Path.cwd()))
    node = merged
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if parts[0] == "objective" and len(parts) >= 2:
        _exclusive_objective(merged.setdefault("objective", {}), {parts[1]: value})
    node[parts[-1]] = value
    provenance[key] = SET_SOURCE


# --------------------------------------------------------------------------- loading


def scaled_weights(weights: dict[str, int | float]) -> Objective:
    """The objective of decimal ``weights``, scaled exactly to integers: each weight is
    read as the decimal it is written as (``0.01`` is 1/100), and all are multiplied by
    the least common denominator, kept as ``weights_scale``."""
    exact = {k: Fraction(Decimal(str(v))) for k, v in weights.items()}
    scale = math.lcm(1, *(f.denominator for f in exact.values()))
    return Objective(weights=tuple((k, int(f * scale)) for k, f in exact.items()), weights_scale=scale)


def user_weights(objective: Objective) -> dict[str, int | float]:
    """The weights as the planner wrote them (whole numbers stay integers)."""
    scale = objective.weights_scale
    return {k: w // scale if w % scale == 0 else w / scale for k, w in objective.weights or ()}


def _check_objective(objective: ObjectiveModel, label: str) -> list[Issue]:
    issues = []
    if objective.priorities is not None and objective.weights is not None:
        issues.append(_issue(label, "both_objectives", "objective"))
    names: list[str] = list(objective.priorities or []) + list((objective.weights or {}).keys())
    key = "objective.priorities" if objective.priorities is not None else "objective.weights"
    if (objective.priorities is not None and not objective.priorities) or objective.weights == {}:
        issues.append(_issue(label, "empty_objective", key, terms=", ".join(TERMS)))
    for name in names:
        if name not in TERMS:
            close = difflib.get_close_matches(name, TERMS, n=1, cutoff=0.6)
            hint = t("io.unknown_term.hint", terms=", ".join(TERMS))
            if close:
                hint += " " + t("io.did_you_mean", suggestion=close[0])
            issues.append(_issue(label, "unknown_term", key, name, hint=hint))
    if objective.priorities is not None:
        for name in sorted({n for n in objective.priorities if objective.priorities.count(n) > 1}):
            issues.append(_issue(label, "duplicate_term", key, name))
    return issues


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Load a scenario file, its ``extends`` chain and ``--set`` overrides.

    Parameters
    ----------
    path
        The scenario TOML file.
    overrides
        ``"key=value"`` strings, e.g. ``"rules.max_commute_km=20"``; the value is read as
        a TOML value (number, boolean, date, array…) or else as text.

    Returns
    -------
    Scenario
        The validated scenario, data paths absolute.

    Raises
    ------
    InputError
        With every problem found: a missing or unreadable file, a TOML syntax error, an
        ``extends`` cycle, unknown keys (with the closest valid key), bad values, a
        missing table, a data file that does not exist.
    """
    top = _absolute(Path(path), Path.cwd())
    layers = _read_chain(top)
    top_label = display_path(top)
    issues: list[Issue] = []
    merged: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    for layer in reversed(layers):
        label = display_path(layer.path)
        try:
            ScenarioModel.model_validate(layer.doc)
        except ValidationError as exc:
            issues.extend(
                _unknown_key_issue(label, ".".join(str(p) for p in err["loc"]))
                for err in exc.errors()
                if err["type"] == "extra_forbidden"
            )
        _resolve_data(layer.doc, layer.path.parent)
        inherited = {k: v for k, v in layer.doc.items() if k not in ("name", "description", "extends")}
        _merge(merged, inherited, label, provenance)
    own = layers[0].doc
    for key in ("name", "description"):
        if key in own:
            merged[key] = own[key]
            provenance[key] = top_label
    for text in overrides:
        _apply_override(merged, text, provenance, issues)
    model: ScenarioModel | None = None
    try:
        model = ScenarioModel.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            label = _provenance_of(loc, provenance, top_label)
            if err["type"] == "extra_forbidden":
                dotted = ".".join(loc)
                from_set = [
                    k for k, v in provenance.items() if v == SET_SOURCE and f"{k}.".startswith(f"{dotted}.")
                ]
                if label == SET_SOURCE or from_set:
                    issues.append(_unknown_key_issue(SET_SOURCE, from_set[0] if from_set else dotted))
                continue
            dotted = ".".join(p for p in loc if not p.isdigit())
            issues.append(_issue(label, "bad_value", dotted, err.get("input", ""), expected=_expected(err)))
    if model is None:
        raise InputError(issues)
    objective_keys = ("objective", "objective.priorities", "objective.weights")
    objective_label = next(
        (provenance[k] for k in objective_keys[1:] if k in provenance),
        _provenance_of(("objective",), provenance, top_label),
    )
    issues += _check_objective(model.objective, objective_label)
    data, sheets = _check_data(model.data, provenance, top_label, issues)
    if issues:
        raise InputError(issues)
    rules = Rules(**typing.cast(BaseModel, model.rules).model_dump())
    objective = (
        scaled_weights(model.objective.weights)
        if model.objective.weights is not None
        else Objective(priorities=tuple(model.objective.priorities or TERMS))
    )
    return Scenario(
        name=unicodedata.normalize("NFC", model.name or top.stem),
        path=top,
        description=unicodedata.normalize("NFC", " ".join(model.description.split())),
        data=data,
        sheets=sheets,
        rules=rules,
        objective=objective,
        solver=SolverParams(**model.solver.model_dump()),
        overrides=tuple(overrides),
        chain=tuple(layer.path for layer in layers),
        chain_digests=tuple(layer.digest for layer in layers),
    )


def _check_data(
    data: DataModel, provenance: dict[str, str], top_label: str, issues: list[Issue]
) -> tuple[dict[str, Path], dict[str, str]]:
    paths: dict[str, Path] = {}
    sheets: dict[str, str] = {}
    for table in REQUIRED_TABLES:
        if not getattr(data, table):
            issues.append(_issue(top_label, "missing_table", f"data.{table}", table=table))
    for key, value in data.model_dump().items():
        if not value:
            continue
        source = TableSource.parse(value, Path.cwd())
        if not source.path.is_file():
            label = _provenance_of(("data", key), provenance, top_label)
            code = "data_not_a_file" if os.path.lexists(source.path) else "data_file_missing"
            issues.append(_issue(label, code, f"data.{key}", str(source.path)))
            continue
        paths[key] = source.path
        if source.sheet and key not in DATA_FILES:
            sheets[key] = source.sheet
    return paths, sheets


def resolved_input_files(resolved: Mapping[str, Any]) -> tuple[list[Path], list[Path]]:
    """The input files named by a resolved scenario (:meth:`Scenario.resolved`, as stored
    with a run): every file, and the data tables among them.

    Returns
    -------
    tuple of (list of Path, list of Path)
        The scenario file, the files it extends and the data files; then the data files.
    """
    data = resolved.get("data")
    tables = [
        TableSource.parse(str(v), Path.cwd()).path
        for v in (data.values() if isinstance(data, Mapping) else ())
        if isinstance(v, str) and v
    ]
    chain = [resolved.get("path"), *(resolved.get("extends") or ())]
    return [Path(p) for p in chain if isinstance(p, str) and p] + tables, tables


def scenario_input_files(path: str | Path) -> list[Path]:
    """The files a scenario reads, found without validating it (for the output guard of
    a command whose scenario may be broken): its chain and its ``[data]`` files."""
    try:
        layers = _read_chain(_absolute(Path(path), Path.cwd()))
    except InputError:
        return [Path(path)]
    files = [layer.path for layer in layers]
    for layer in layers:
        data = layer.doc.get("data")
        if isinstance(data, dict):
            files += [
                TableSource.parse(v, layer.path.parent).path
                for v in data.values()
                if isinstance(v, str) and v
            ]
    return files
