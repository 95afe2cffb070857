"""Several provinces in one scenario, and a synthetic nation to run it on.

**Multi-province scenarios.** A scenario file whose top level holds a ``provinces``
list (instead of ``[data]``, ``[rules]``…) names one ordinary scenario file (DESIGN §6)
per province, paths relative to the file::

    name = "national-synthetic"
    description = "…"
    provinces = ["generated/ha-noi/scenario.toml", "generated/hue/scenario.toml"]

Each province file names its own five tables and usually ``extends`` a shared base that
holds ``[rules]``, ``[objective]`` and ``[solver]``.  Every province must resolve to the
same rules, objective and solver settings, so that one KPI table and one objective
breakdown describe the merged run.  Provinces are solved independently: no rule lets a
person be placed outside their own province, so the national problem splits exactly
(each term is a sum over provinces, and a lexicographic optimum of a sum of independent
parts is the sum of their optima).  :mod:`optimizer.sweep` solves them in parallel on its
executor and stores the merged placement as one run.  ``--set`` overrides apply to every
province; ``data.*`` keys cannot be overridden (each province names its own tables).

**Synthetic nation.** :data:`PROVINCES` lists the 34 province-level units in force since
12 June 2025 with their number of commune-level units (3,321 in all; the ward / commune
split and the centres and areas are approximate).  :func:`synthetic_units` lays out a
province's units around its centre (wards in an urban core, communes around it, island
special zones at their approximate real positions); Hồ Chí Minh City uses the 168 real
units shipped in ``data/hcmc``.  :func:`write_national` generates every province's tables
with :func:`optimizer.synth.synthesize` (the generator behind ``staffplan synth``),
about 250,000 people in all, and one scenario file per province.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from optimizer import synth
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.io.places import shipped_data_dir
from optimizer.io.scenario import Scenario, load_scenario
from optimizer.io.tables import display_path

logger = logging.getLogger(__name__)

#: The top-level key that makes a scenario file a multi-province scenario.
PROVINCES_KEY = "provinces"
#: People in the synthetic nation (DESIGN §9: about 250,000 at commune level).
NATIONAL_PEOPLE = 250_000
#: Share of the party / mass-organisation bloc, as in HCMC (3,878 of 15,997).
PARTY_SHARE = synth.HCMC_PARTY / (synth.HCMC_PARTY + synth.HCMC_GOVERNMENT)
#: Average area of a ward in the synthetic urban core, km².
WARD_AREA_KM2 = 12.0
#: At most this share of a province's land is urban core.
MAX_URBAN_SHARE = 0.3
#: Median population of a synthetic ward, commune and island special zone.
MEDIAN_POPULATION = {"ward": 45_000, "commune": 22_000, "special_zone": 8_000}

_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON = 111.320
_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))
#: Words combined into synthetic unit names ("Xã Tân Lợi").
# fmt: off
_NAME_FIRST = (
    "Tân", "An", "Bình", "Hòa", "Phú", "Long", "Thạnh", "Phước", "Thành", "Đông", "Tây", "Nam",
    "Bắc", "Trung", "Hưng", "Vĩnh", "Quang", "Minh", "Thuận", "Hiệp", "Mỹ", "Xuân", "Thái", "Cẩm",
)
_NAME_SECOND = (
    "An", "Bình", "Hòa", "Phú", "Lợi", "Thịnh", "Lộc", "Hưng", "Thành", "Phong", "Hải", "Sơn",
    "Lâm", "Xuân", "Mỹ", "Khánh", "Tiến", "Đức", "Hợp", "Tâm", "Điền", "Giang", "Thủy", "Yên",
)
# fmt: on


# =========================================================================== scenarios


class _NationalModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str = ""
    provinces: list[str] = Field(min_length=1)


@dataclass(frozen=True)
class NationalScenario:
    """A multi-province scenario file, loaded.

    Attributes
    ----------
    name
        The file's ``name`` (else the file name without suffix).
    path
        The file (absolute).
    description
        One paragraph, as in any scenario.
    provinces
        The province scenario files, absolute, in the file's order.
    digest
        SHA-256 of the file as read.
    """

    name: str
    path: Path
    description: str
    provinces: tuple[Path, ...]
    digest: str


def is_national(path: str | Path) -> bool:
    """Whether ``path`` is a readable TOML file with a top-level ``provinces`` key.

    Anything else (a missing file, bad TOML, an ordinary scenario) gives ``False``, so
    that the ordinary scenario loader reports its problems.
    """
    try:
        doc = tomllib.loads(Path(path).read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return False
    return PROVINCES_KEY in doc


def _issue(file: str, code: str, column: str = "", value: str = "", **kw: object) -> Issue:
    """An issue whose message is ``sweep.<code>`` and hint ``sweep.<code>.hint``."""
    return Issue(
        file=file,
        column=column,
        value=value,
        message=t(f"sweep.{code}", **kw),
        hint=t(f"sweep.{code}.hint", **kw),
        code=code,
    )


def load_national(path: str | Path) -> NationalScenario:
    """Load a multi-province scenario file (see the module docstring).

    Raises
    ------
    InputError
        With every problem at once: unreadable file, unknown keys, an empty or
        malformed ``provinces`` list, a province listed twice, a province file that
        does not exist.
    """
    top = Path(path).expanduser().absolute()
    label = display_path(top)
    try:
        content = top.read_bytes()
        doc = tomllib.loads(content.decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError([_issue(label, "national_unreadable", error=str(exc))]) from None
    try:
        model = _NationalModel.model_validate(doc)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
            code = "national_unknown_key" if err["type"] == "extra_forbidden" else "national_bad_value"
            issues.append(_issue(label, code, key, key=key))
        raise InputError(issues) from None
    provinces: list[Path] = []
    issues = []
    seen: set[Path] = set()
    for entry in model.provinces:
        province = Path(entry).expanduser()
        province = (province if province.is_absolute() else top.parent / province).resolve()
        if province in seen:
            issues.append(_issue(label, "national_duplicate", PROVINCES_KEY, entry))
        elif not province.is_file():
            issues.append(_issue(label, "national_missing_province", PROVINCES_KEY, entry, folder=top.parent))
        seen.add(province)
        provinces.append(province)
    if issues:
        raise InputError(issues)
    return NationalScenario(
        name=unicodedata.normalize("NFC", model.name or top.stem),
        path=top,
        description=unicodedata.normalize("NFC", " ".join(model.description.split())),
        provinces=tuple(provinces),
        digest=hashlib.sha256(content).hexdigest(),
    )


def load_provinces(national: NationalScenario, overrides: Sequence[str] = ()) -> list[Scenario]:
    """Load every province scenario of ``national`` with the same ``--set`` overrides.

    Raises
    ------
    InputError
        For a ``data.*`` override; else with the problems of every province at once,
        and any province whose rules, objective or solver settings differ from the
        first's.
    """
    issues: list[Issue] = []
    for text in overrides:
        key = text.partition("=")[0].strip()
        if key.split(".")[0] == "data":
            issues.append(_issue("--set", "national_data_override", key, text, key=key))
    if issues:
        raise InputError(issues)
    scenarios: list[Scenario] = []
    for path in national.provinces:
        try:
            scenarios.append(load_scenario(path, overrides))
        except InputError as exc:
            issues.extend(exc.issues)
    if not issues:
        first = scenarios[0]
        for sc in scenarios[1:]:
            for table in ("rules", "objective", "solver"):
                if getattr(sc, table) != getattr(first, table):
                    issues.append(
                        _issue(
                            display_path(sc.path),
                            "national_mismatch",
                            table,
                            table=table,
                            first=display_path(first.path),
                        )
                    )
    if issues:
        raise InputError(issues)
    return scenarios


# =========================================================================== provinces


@dataclass(frozen=True)
class Island:
    """An island special zone (đặc khu): name and approximate position and area."""

    name: str
    lat: float
    lon: float
    area_km2: float


@dataclass(frozen=True)
class ProvinceSpec:
    """One province-level unit of the synthetic nation.

    ``code`` prefixes the synthetic unit ids (``HNI001``) and the staff ids;
    ``units`` counts every commune-level unit, ``wards`` the wards among them and
    ``islands`` the island special zones (the rest are communes).  ``lat``, ``lon`` and
    ``area_km2`` place the mainland units (approximate).  With ``real_units`` the
    shipped ``data/hcmc`` units are used instead (Hồ Chí Minh City), and ``people``
    fixes the (party, government) head counts rather than apportioning them.
    """

    slug: str
    name: str
    code: str
    units: int
    wards: int
    lat: float
    lon: float
    area_km2: float
    islands: tuple[Island, ...] = ()
    real_units: bool = False
    people: tuple[int, int] | None = None


def _p(
    slug: str,
    name: str,
    code: str,
    units: int,
    wards: int,
    centre: tuple[float, float],
    area_km2: float,
    *islands: Island,
) -> ProvinceSpec:
    return ProvinceSpec(slug, name, code, units, wards, centre[0], centre[1], area_km2, islands)


#: The 34 province-level units (NQ 202/2025/QH15) and their commune-level units
#: (3,321: the per-province totals of the 2025 resolutions of the Standing Committee;
#: the ward counts sum to 685 against the 687 published, and centres and areas are
#: rounded approximations).  Hồ Chí Minh City uses the real shipped units.
# fmt: off
PROVINCES: tuple[ProvinceSpec, ...] = (
    _p("ha-noi", "Thành phố Hà Nội", "HNI", 126, 51, (21.03, 105.70), 3360),
    _p("hue", "Thành phố Huế", "HUE", 40, 19, (16.35, 107.55), 4947),
    _p(
        "quang-ninh", "Tỉnh Quảng Ninh", "QNI", 54, 30, (21.15, 107.20), 6208,
        Island("Vân Đồn", 21.07, 107.42, 581.0), Island("Cô Tô", 20.98, 107.76, 50.0),
    ),
    _p("cao-bang", "Tỉnh Cao Bằng", "CBG", 56, 3, (22.70, 106.10), 6700),
    _p("lang-son", "Tỉnh Lạng Sơn", "LSN", 65, 4, (21.80, 106.60), 8310),
    _p("lai-chau", "Tỉnh Lai Châu", "LCU", 38, 2, (22.30, 103.20), 9069),
    _p("dien-bien", "Tỉnh Điện Biên", "DBN", 45, 3, (21.70, 102.90), 9540),
    _p("son-la", "Tỉnh Sơn La", "SLA", 75, 8, (21.20, 104.00), 14110),
    _p("thanh-hoa", "Tỉnh Thanh Hóa", "THA", 166, 19, (20.00, 105.50), 11115),
    _p("nghe-an", "Tỉnh Nghệ An", "NAN", 130, 11, (19.20, 104.90), 16490),
    _p("ha-tinh", "Tỉnh Hà Tĩnh", "HTH", 69, 9, (18.30, 105.80), 5994),
    _p("tuyen-quang", "Tỉnh Tuyên Quang", "TQG", 124, 7, (22.40, 105.10), 13795),
    _p("lao-cai", "Tỉnh Lào Cai", "LCI", 99, 10, (22.00, 104.30), 13257),
    _p("thai-nguyen", "Tỉnh Thái Nguyên", "TNN", 92, 15, (21.85, 105.80), 8375),
    _p("phu-tho", "Tỉnh Phú Thọ", "PTO", 148, 15, (21.10, 105.30), 9361),
    _p("bac-ninh", "Tỉnh Bắc Ninh", "BNH", 99, 33, (21.30, 106.30), 4719),
    _p("hung-yen", "Tỉnh Hưng Yên", "HYN", 104, 11, (20.60, 106.20), 2515),
    _p(
        "hai-phong", "Thành phố Hải Phòng", "HPG", 114, 45, (20.90, 106.50), 3195,
        Island("Cát Hải", 20.80, 106.97, 286.0), Island("Bạch Long Vĩ", 20.13, 107.72, 3.0),
    ),
    _p("ninh-binh", "Tỉnh Ninh Bình", "NBH", 129, 32, (20.30, 106.00), 3942),
    _p(
        "quang-tri", "Tỉnh Quảng Trị", "QTI", 78, 8, (17.20, 106.70), 12700,
        Island("Cồn Cỏ", 17.16, 107.34, 2.3),
    ),
    _p(
        "da-nang", "Thành phố Đà Nẵng", "DNG", 94, 23, (15.70, 108.00), 11860,
        Island("Hoàng Sa", 16.50, 111.60, 305.0),
    ),
    _p(
        "quang-ngai", "Tỉnh Quảng Ngãi", "QNG", 96, 9, (14.80, 108.30), 14832,
        Island("Lý Sơn", 15.38, 109.12, 10.0),
    ),
    _p("gia-lai", "Tỉnh Gia Lai", "GLI", 135, 25, (14.00, 108.40), 21576),
    _p(
        "khanh-hoa", "Tỉnh Khánh Hòa", "KHA", 65, 16, (12.00, 109.00), 8555,
        Island("Trường Sa", 8.64, 111.92, 496.0),
    ),
    _p(
        "lam-dong", "Tỉnh Lâm Đồng", "LDG", 124, 20, (11.60, 108.00), 24233,
        Island("Phú Quý", 10.52, 108.94, 16.0),
    ),
    _p("dak-lak", "Tỉnh Đắk Lắk", "DLK", 102, 14, (12.80, 108.40), 18096),
    ProvinceSpec(
        "ho-chi-minh", "Thành phố Hồ Chí Minh", "HCM", 168, 113, 10.81, 106.77, 6772,
        real_units=True, people=(synth.HCMC_PARTY, synth.HCMC_GOVERNMENT),
    ),
    _p("dong-nai", "Tỉnh Đồng Nai", "DNI", 95, 23, (11.30, 106.90), 12737),
    _p("tay-ninh", "Tỉnh Tây Ninh", "TNH", 96, 14, (10.90, 106.20), 8536),
    _p("can-tho", "Thành phố Cần Thơ", "CTO", 103, 31, (9.70, 105.80), 6360),
    _p("vinh-long", "Tỉnh Vĩnh Long", "VLG", 124, 19, (10.00, 106.20), 6296),
    _p("dong-thap", "Tỉnh Đồng Tháp", "DTP", 102, 20, (10.40, 106.00), 5939),
    _p("ca-mau", "Tỉnh Cà Mau", "CMU", 64, 9, (9.20, 105.20), 7942),
    _p(
        "an-giang", "Tỉnh An Giang", "AGG", 102, 14, (10.40, 105.10), 9889,
        Island("Phú Quốc", 10.23, 103.96, 575.0), Island("Kiên Hải", 9.81, 104.63, 25.0),
        Island("Thổ Châu", 9.30, 103.47, 14.0),
    ),
)
# fmt: on


def province_people(specs: Sequence[ProvinceSpec], total: int = NATIONAL_PEOPLE) -> list[tuple[int, int]]:
    """(party, government) head counts per province.

    Provinces with fixed ``people`` keep them; the rest of ``total`` is shared in
    proportion to the number of units (largest remainders), and each province's people
    are split between the blocs as in HCMC (:data:`PARTY_SHARE`).
    """
    fixed = sum(sum(s.people) for s in specs if s.people is not None)
    free = [k for k, s in enumerate(specs) if s.people is None]
    weights = np.array([specs[k].units for k in free], dtype=float)
    quota = max(0, total - fixed) * weights / max(weights.sum(), 1.0)
    shares = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - shares), kind="stable")  # largest remainders first
    shares[order[: max(0, total - fixed) - int(shares.sum())]] += 1
    out = [s.people for s in specs]
    for k, n in zip(free, shares.tolist(), strict=True):
        party = round(n * PARTY_SHARE)
        out[k] = (party, n - party)
    return [p for p in out if p is not None]


def _sunflower(n: int, r_inner: float, r_outer: float, offset: float) -> np.ndarray:
    """``n`` evenly spread points (x, y in km) in the ring ``r_inner ≤ r ≤ r_outer``."""
    k = np.arange(n) + 0.5
    r = np.sqrt(r_inner**2 + (r_outer**2 - r_inner**2) * k / max(n, 1))
    theta = offset + _GOLDEN_ANGLE * np.arange(n)
    return np.column_stack([r * np.cos(theta), r * np.sin(theta)])


def _unit_names(n: int, rng: np.random.Generator) -> list[str]:
    pairs = [f"{a} {b}" for a in _NAME_FIRST for b in _NAME_SECOND if a != b]
    picks = rng.choice(len(pairs), size=n, replace=n > len(pairs))
    names = [pairs[i] for i in picks]
    if n > len(pairs):  # more units than names: number the repeats
        names = [f"{name} {k + 1}" for k, name in enumerate(names)]
    return names


def synthetic_units(spec: ProvinceSpec, seed: int = 0) -> pd.DataFrame:
    """Synthetic commune-level units for one province (contract columns of DESIGN §3).

    The mainland is a disc of ``spec.area_km2`` around the province's centre: the wards
    fill an urban core (about :data:`WARD_AREA_KM2` each, at most
    :data:`MAX_URBAN_SHARE` of the land), the communes the ring around it, both laid
    out evenly (a sunflower pattern) with a little seeded jitter.  Island special zones
    sit at their approximate real positions.  Populations are log-normal around
    :data:`MEDIAN_POPULATION`.  Ids are ``spec.code`` and a 3-digit number, wards first.

    Parameters
    ----------
    spec
        The province (not one with ``real_units``).
    seed
        Same seed, same table.
    """
    rng = np.random.default_rng(seed)
    num_main = spec.units - len(spec.islands)
    num_communes = num_main - spec.wards
    radius = math.sqrt(spec.area_km2 / math.pi)
    urban = min(MAX_URBAN_SHARE * spec.area_km2, spec.wards * WARD_AREA_KM2)
    r_urban = math.sqrt(urban / math.pi)
    offset = float(rng.uniform(0, 2 * math.pi))
    xy = np.vstack(
        [
            _sunflower(spec.wards, 0.0, r_urban, offset),
            _sunflower(num_communes, r_urban, radius, offset),
        ]
    )
    area = np.concatenate(
        [
            np.full(spec.wards, urban / max(spec.wards, 1)),
            np.full(num_communes, (spec.area_km2 - urban) / max(num_communes, 1)),
        ]
    ) * rng.lognormal(0.0, 0.3, num_main)
    xy += rng.normal(0.0, 0.15, xy.shape) * np.sqrt(area)[:, None]
    lat = spec.lat + xy[:, 1] / _KM_PER_DEG_LAT
    lon = spec.lon + xy[:, 0] / (_KM_PER_DEG_LON * np.cos(np.radians(spec.lat)))
    kinds = ["ward"] * spec.wards + ["commune"] * num_communes
    names = [
        f"{'Phường' if kind == 'ward' else 'Xã'} {name}"
        for kind, name in zip(kinds, _unit_names(num_main, rng), strict=True)
    ]
    kinds += ["special_zone"] * len(spec.islands)
    names += [f"Đặc khu {island.name}" for island in spec.islands]
    lat = np.concatenate([lat, [i.lat for i in spec.islands]])
    lon = np.concatenate([lon, [i.lon for i in spec.islands]])
    area = np.concatenate([area, [i.area_km2 for i in spec.islands]])
    median = np.array([MEDIAN_POPULATION[k] for k in kinds], dtype=float)
    population = np.rint(median * rng.lognormal(0.0, 0.4, len(kinds))).astype(np.int64)
    return pd.DataFrame(
        {
            "unit_id": [f"{spec.code}{k + 1:03d}" for k in range(spec.units)],
            "name": [unicodedata.normalize("NFC", n) for n in names],
            "kind": kinds,
            "lat": np.round(lat, 5),
            "lon": np.round(lon, 5),
            "population": population,
            "area_km2": np.round(area, 2),
            "island": [k == "special_zone" for k in kinds],
        }
    )


def _province_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def province_tables(spec: ProvinceSpec, party: int, government: int, seed: int) -> dict[str, pd.DataFrame]:
    """Every input table of one province: its units, then :func:`optimizer.synth.synthesize`.

    Hồ Chí Minh City (``real_units``) takes the shipped ``data/hcmc`` units and former
    units, as ``staffplan synth`` does by default.

    Raises
    ------
    InputError
        When the shipped HCMC data cannot be found, or the head counts cannot staff the
        leadership posts.
    """
    former = None
    if spec.real_units:
        folder = shipped_data_dir()
        if folder is None:
            raise InputError([_issue("data/hcmc/units.csv", "national_no_hcmc_units")])
        units = synth.read_units(folder / "units.csv")
        if (folder / "hcmc_former_units.csv").is_file():
            former = synth.read_former_units(folder / "hcmc_former_units.csv")
    else:
        units = synthetic_units(spec, seed)
    return synth.synthesize(
        units,
        party=party,
        government=government,
        seed=seed,
        former_units=former,
        id_prefix=spec.code,
    )


def province_scenario(spec: ProvinceSpec, base: str, posts: str = "posts.csv") -> dict[str, Any]:
    """The scenario file of one generated province (a TOML document as a dict).

    ``base`` is the shared base file, relative to the province's folder.
    """
    return {
        "name": spec.slug,
        "description": t("sweep.national_province_description", "vi", province=spec.name),
        "extends": base,
        "data": {
            "units": "units.csv",
            "posts": posts,
            "staff": "staff.csv",
            "relations": "relations.csv",
            "pins": "pins.csv",
        },
    }


def write_national(
    out_dir: Path,
    base: Path,
    *,
    specs: Sequence[ProvinceSpec] = PROVINCES,
    seed: int = 0,
    total_people: int = NATIONAL_PEOPLE,
) -> list[Path]:
    """Generate every province's tables and scenario file under ``out_dir/<slug>/``.

    Parameters
    ----------
    out_dir
        Created if needed; one folder per province.
    base
        The shared base scenario (``[rules]``, ``[objective]``, ``[solver]``) every
        province file ``extends``.
    specs
        The provinces (default: :data:`PROVINCES`).
    seed
        Master seed; each province gets its own seed derived from it and its position.
    total_people
        Head count of the whole nation (see :func:`province_people`).

    Returns
    -------
    list of pathlib.Path
        The province scenario files, in ``specs`` order.
    """
    import tomli_w

    written = []
    for index, (spec, (party, government)) in enumerate(
        zip(specs, province_people(specs, total_people), strict=True)
    ):
        folder = out_dir / spec.slug
        tables = province_tables(spec, party, government, _province_seed(seed, index))
        synth.write_tables(tables, folder, ("csv",))
        rel_base = Path(os.path.relpath(base.absolute(), folder.absolute())).as_posix()
        path = folder / "scenario.toml"
        path.write_text(tomli_w.dumps(province_scenario(spec, rel_base)), encoding="utf-8")
        logger.info("%s: %d units, %d + %d people", spec.slug, len(tables["units"]), party, government)
        written.append(path)
    return written
