"""Session planner of the BT.500 expert-viewing test (AI4Media report §3.3.4).

Each source clip (SRC) processed by a condition (an upscaler, a codec setting...) gives a processed
video sequence (PVS) with id ``"<src>/<condition>"``. A basic test cell (BTC) shows the reference,
then two PVS of the same SRC labelled A and B, then asks for two votes:

    0.5 s mid-grey | 10 s reference | 0.5 s "A" | 10 s PVS | 0.5 s "B" | 10 s PVS | 5 s "Vote N"

(36.5 s per BTC by default, :class:`CellTiming`). The planner builds every unordered pair of PVS of
the same SRC (or a stated subset), draws A/B within each BTC, and orders the BTCs by constrained
randomisation: no SRC, hence no PVS, in two consecutive BTCs. Sessions are split so that none
exceeds ``max_session_s`` (20 minutes, the BT.500 limit on a session) including a stabilisation
phase of four BTCs (best, worst and two middle ones by objective score) at the start of each
session, whose votes are not analysed. A training session shows the same material in another
order.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

PLAN_FORMAT = "ai4m_kit.quality.subjective plan v1"
WRITTEN_BY = "ai4m_kit.quality.subjective"
PHASES = ("training", "stabilisation", "test")


def pvs_id(src: str, condition: str) -> str:
    """Id of the PVS made from ``src`` by ``condition``.

    Example:
        >>> pvs_id("harbour", "lanczos3")
        'harbour/lanczos3'
    """
    return f"{src}/{condition}"


def split_pvs_id(pvs: str) -> tuple[str, str]:
    """``(src, condition)`` of a PVS id made by :func:`pvs_id`."""
    src, sep, condition = pvs.partition("/")
    if not sep or not src or not condition:
        raise ValueError(f"PVS id must be '<src>/<condition>'; got {pvs!r}")
    return src, condition


@dataclass(frozen=True)
class CellTiming:
    """Durations in seconds of the parts of one BTC (defaults: the report's expert viewing)."""

    grey: float = 0.5
    reference: float = 10.0
    label: float = 0.5
    pvs: float = 10.0
    vote: float = 5.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"CellTiming.{name} must be a positive number of seconds; got {value!r}")

    @property
    def btc_s(self) -> float:
        """Seconds per BTC (36.5 by default).

        Example:
            >>> CellTiming().btc_s
            36.5
        """
        return self.grey + self.reference + 2 * (self.label + self.pvs) + self.vote


@dataclass(frozen=True)
class BTC:
    """One basic test cell: the reference of ``src``, then PVS ``a`` and PVS ``b``."""

    id: str
    session: str
    position: int  # 1-based within the session: the "Vote N" number
    phase: str  # "training", "stabilisation" (votes not analysed) or "test"
    src: str
    a: str
    b: str

    @property
    def pvs(self) -> tuple[str, str]:
        return (self.a, self.b)


@dataclass
class Session:
    id: str
    kind: str  # "training" or "test"
    btcs: list[BTC]
    btc_s: float

    @property
    def duration_s(self) -> float:
        return len(self.btcs) * self.btc_s


@dataclass
class Plan:
    """Sessions of an expert-viewing test; a plain structure exportable to JSON and CSV."""

    srcs: list[str]
    conditions: list[str]
    seed: int
    timing: CellTiming
    max_session_s: float
    sessions: list[Session]
    stabilisation_basis: str
    objective: dict[str, float] = field(default_factory=dict)
    format: str = PLAN_FORMAT

    # --- look-ups
    @property
    def btcs(self) -> list[BTC]:
        return [b for s in self.sessions for b in s.btcs]

    def btc(self, btc_id: str) -> BTC:
        for b in self.btcs:
            if b.id == btc_id:
                return b
        raise LookupError(f"BTC {btc_id!r} is not in the plan")

    def session(self, session_id: str) -> Session:
        for s in self.sessions:
            if s.id == session_id:
                return s
        raise LookupError(f"session {session_id!r} is not in the plan (sessions: {', '.join(s.id for s in self.sessions)})")

    @property
    def pvs_ids(self) -> list[str]:
        return sorted({p for b in self.btcs for p in b.pvs})

    # --- export
    def rows(self) -> list[dict]:
        """One dict per BTC (session order), with start and end times within the session."""
        out = []
        for s in self.sessions:
            for b in s.btcs:
                start = (b.position - 1) * s.btc_s
                out.append({"session": s.id, "kind": s.kind, "position": b.position, "btc": b.id, "phase": b.phase,
                            "src": b.src, "a": b.a, "b": b.b, "start_s": start, "end_s": start + s.btc_s})
        return out

    def to_dict(self) -> dict:
        return {"format": self.format, "written_by": WRITTEN_BY, "seed": self.seed, "srcs": self.srcs,
                "conditions": self.conditions, "timing": asdict(self.timing), "max_session_s": self.max_session_s,
                "stabilisation_basis": self.stabilisation_basis, "objective": self.objective,
                "sessions": [{"id": s.id, "kind": s.kind, "duration_s": s.duration_s,
                              "btcs": [{k: v for k, v in asdict(b).items() if k != "session"} for b in s.btcs]}
                             for s in self.sessions]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: Mapping) -> "Plan":
        if not isinstance(d, Mapping) or d.get("format") != PLAN_FORMAT:
            raise ValueError(f"not a plan written by ai4m_kit.quality.subjective (format {PLAN_FORMAT!r})")
        try:
            timing = CellTiming(**d["timing"])
            sessions = [Session(s["id"], s["kind"], [BTC(session=s["id"], **b) for b in s["btcs"]], timing.btc_s)
                        for s in d["sessions"]]
            return cls(list(d["srcs"]), list(d["conditions"]), int(d["seed"]), timing, float(d["max_session_s"]),
                       sessions, str(d["stabilisation_basis"]), dict(d.get("objective") or {}))
        except (KeyError, TypeError) as err:
            raise ValueError(f"damaged plan: {type(err).__name__} {err}") from err

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> "Plan":
        """A plan from JSON text or from a JSON file written by :meth:`to_json`."""
        text = str(text_or_path)
        where = "plan"
        if not text.lstrip().startswith("{"):
            where = str(text_or_path)
            text = Path(text_or_path).read_text(encoding="utf-8")
        try:
            d = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not JSON ({err.msg} at line {err.lineno})") from None
        try:
            return cls.from_dict(d)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None

    def to_csv(self) -> str:
        buf = io.StringIO(newline="")
        rows = self.rows()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()


# ------------------------------------------------------------------ constrained randomisation
def _feasible(counts: Mapping[str, int], last: str | None) -> bool:
    """Can items with these per-SRC ``counts`` follow ``last`` with no SRC twice in a row?

    Possible iff the largest count m of r items is at most ceil(r/2), and, when m == ceil(r/2) with
    r odd, that SRC (which must then open the sequence) is not ``last``.
    """
    r = sum(counts.values())
    if r == 0:
        return True
    top = max(counts.values())
    if top > (r + 1) // 2:
        return False
    if r % 2 == 1 and top == (r + 1) // 2:
        return counts.get(last, 0) != top
    return True


def constrained_order(items: Sequence, key, rng: np.random.Generator, *, after=None) -> list:
    """A random order of ``items`` in which no two consecutive items share ``key(item)``.

    At each step a random item is drawn among those whose key differs from the previous one and
    which leave a feasible remainder (:func:`_feasible`), so the draw never dead-ends. ``after``:
    the key the sequence follows (its first item must differ from it).

    Raises:
        ValueError: no such order exists (one key holds more than half of the items).

    Example:
        >>> order = constrained_order(["a1", "a2", "b1", "b2", "c1"], lambda s: s[0], np.random.default_rng(0))
        >>> all(x[0] != y[0] for x, y in zip(order, order[1:]))
        True
    """
    pools: dict = {}
    for it in items:
        pools.setdefault(key(it), []).append(it)
    counts = {k: len(v) for k, v in pools.items()}
    if not _feasible(counts, after):
        k, m = max(counts.items(), key=lambda kv: kv[1])
        raise ValueError(f"no order keeps {k!r} out of consecutive BTCs: it has {m} of {len(items)} BTCs "
                         f"(at most {(len(items) + 1) // 2}{' after a BTC of the same SRC' if k == after else ''}); "
                         "add SRCs or split the pairs differently")
    for pool in pools.values():
        rng.shuffle(pool)
    order, last = [], after
    for _ in range(len(items)):
        options = []
        for k in pools:
            if k == last or counts[k] == 0:
                continue
            counts[k] -= 1
            if _feasible(counts, k):
                options.append(k)
            counts[k] += 1
        weights = np.array([counts[k] for k in options], dtype=float)
        k = options[int(rng.choice(len(options), p=weights / weights.sum()))]
        counts[k] -= 1
        order.append(pools[k].pop())
        last = k
    return order


# ------------------------------------------------------------------ planner
def _check_names(kind: str, names: Sequence[str]) -> list[str]:
    names = [str(n) for n in names]
    if not names:
        raise ValueError(f"{kind}: give at least one name")
    for n in names:
        if not n or n != n.strip() or any(c in n for c in "/,\n\r\""):
            raise ValueError(f"{kind}: name {n!r} must be non-empty, without '/', ',', quotes, line breaks or "
                             "surrounding spaces")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{kind}: duplicate names {dup}")
    return names


def _pairs(srcs: list[str], conditions: list[str], pairs) -> list[tuple[str, str, str]]:
    """(src, pvs, pvs) of every unordered pair of conditions per SRC, or of the stated subset."""
    if pairs is None:
        chosen = list(itertools.combinations(conditions, 2))
    else:
        chosen = []
        for p in pairs:
            p = (p,) if isinstance(p, str) else tuple(p)
            if len(p) != 2 or p[0] not in conditions or p[1] not in conditions or p[0] == p[1]:
                raise ValueError(f"pairs: {p!r} must be two different conditions among {conditions}")
            chosen.append(p)
        keys = [frozenset(p) for p in chosen]
        if len(set(keys)) != len(keys):
            raise ValueError("pairs: a pair of conditions is listed twice")
    if not chosen:
        raise ValueError(f"at least two conditions are needed to form A/B pairs; got {conditions}")
    return [(s, pvs_id(s, x), pvs_id(s, y)) for s in srcs for x, y in chosen]


def _stabilisation_cells(cells, objective, higher_is_better, rng, n=4) -> tuple[list, str]:
    """Best, worst and two middle cells by the mean objective score of their two PVS (or ``n``
    random cells without scores), never more than half of them of one SRC (else no order could
    keep that SRC out of consecutive BTCs)."""
    if len(cells) < n:
        raise ValueError(f"the stabilisation phase needs {n} BTCs; the plan has only {len(cells)} pairs")

    def take(picks, candidates):
        for j in candidates:
            srcs = [cells[i][0] for i in picks] + [cells[j][0]]
            if len(picks) < n and srcs.count(srcs[-1]) <= n // 2:
                picks.append(j)
        if len(picks) < n:
            raise ValueError("the stabilisation phase needs BTCs of at least two SRCs")
        return [cells[i] for i in picks]

    if not objective:
        return take([], [int(i) for i in rng.permutation(len(cells))]), "random (no objective scores given)"
    missing = sorted({p for c in cells for p in c[1:]} - set(objective))
    if missing:
        raise ValueError(f"objective scores: no score for PVS {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    sign = 1.0 if higher_is_better else -1.0
    score = [sign * (objective[c[1]] + objective[c[2]]) / 2 for c in cells]
    order = sorted(range(len(cells)), key=lambda i: (score[i], cells[i]))
    best, worst, middle = order[-1], order[0], order[1:-1]
    centre = (len(middle) - 1) / 2  # the middle cells closest to the median first
    by_centre = [middle[i] for i in sorted(range(len(middle)), key=lambda i: (abs(i - centre), i))]
    return (take([best, worst], by_centre),
            "objective: best, worst and two middle BTCs by the mean objective score of their two PVS")


def plan_sessions(srcs: Sequence[str], conditions: Sequence[str], *, seed: int,
                  objective: Mapping[str, float] | None = None, higher_is_better: bool = True,
                  stabilisation: int = 4, max_session_s: float = 1200.0, timing: CellTiming | None = None,
                  pairs: Iterable[Sequence[str]] | None = None, training_btcs: int | None = None) -> Plan:
    """Plan the sessions of a BT.500 expert-viewing test (pairwise A/B with reference).

    Args:
        srcs: source clip ids; conditions: processing ids (e.g. upscalers); PVS ids are
            ``"<src>/<condition>"`` (:func:`pvs_id`).
        seed: every random draw (A/B, orders, training) is a pure function of it.
        objective: ``{pvs: score}`` (e.g. VMAF) used to choose the stabilisation BTCs: the best, the
            worst and the two middle ones by the mean score of their two PVS. Without it they are
            drawn at random and the plan says so (``stabilisation_basis``).
        higher_is_better: the sense of ``objective``.
        stabilisation: BTCs of the stabilisation phase at the start of each test session (votes
            not analysed); 4 (the report's choice) or 0.
        max_session_s: longest session including its stabilisation BTCs (BT.500: 20 minutes).
        timing: :class:`CellTiming` (36.5 s per BTC by default).
        pairs: subset of condition pairs to show, e.g. ``[("bicubic", "lanczos3")]``; default all.
        training_btcs: BTCs of the training session(s): default all test BTCs (the same material)
            in another order; an int takes a seeded subset of that many.

    Raises:
        ValueError: bad names, no feasible order (one SRC holds more than half the BTCs), or a
            session that cannot fit the stabilisation phase and one BTC.

    Example:
        >>> plan = plan_sessions(["a", "b", "c"], ["x", "y", "z"], seed=1)
        >>> [(s.id, s.kind, len(s.btcs)) for s in plan.sessions]
        [('T1', 'training', 9), ('S1', 'test', 13)]
        >>> plan.sessions[1].btcs[0].phase, plan.sessions[1].btcs[4].phase
        ('stabilisation', 'test')
    """
    srcs = _check_names("srcs", srcs)
    conditions = _check_names("conditions", conditions)
    timing = timing or CellTiming()
    if stabilisation not in (0, 4):
        raise ValueError(f"stabilisation must be 4 BTCs (best, worst, two middle) or 0; got {stabilisation}")
    objective = {str(k): float(v) for k, v in (objective or {}).items()}
    rng = np.random.default_rng(seed)
    cells = _pairs(srcs, conditions, pairs)
    per_session = int(math.floor(max_session_s / timing.btc_s + 1e-9))
    if per_session < stabilisation + 1:
        raise ValueError(f"max_session_s={max_session_s:g} holds {per_session} BTCs of {timing.btc_s:g} s; "
                         f"a session needs the {stabilisation} stabilisation BTCs and at least one test BTC")

    def ab(cell):  # A/B order drawn for each showing
        s, x, y = cell
        return (s, x, y) if rng.random() < 0.5 else (s, y, x)

    key = lambda c: c[0]  # noqa: E731 - the SRC of a cell
    test_order = [ab(c) for c in constrained_order(cells, key, rng)]
    stab_cells, basis = (_stabilisation_cells(cells, objective, higher_is_better, rng)
                         if stabilisation else ([], "none"))
    n_sessions = math.ceil(len(test_order) / (per_session - stabilisation))
    sizes = [len(test_order) // n_sessions + (i < len(test_order) % n_sessions) for i in range(n_sessions)]

    sessions = []
    # training: the same material in another order, split like the test (no stabilisation phase)
    if training_btcs is None:
        train_cells = list(cells)
    else:
        if not 1 <= training_btcs <= len(cells):
            raise ValueError(f"training_btcs must be in 1..{len(cells)}; got {training_btcs}")
        train_cells = [cells[i] for i in sorted(rng.choice(len(cells), training_btcs, replace=False))]
    pair = lambda c: (c[0], frozenset(c[1:]))  # noqa: E731 - a cell whatever its A/B order
    for _ in range(100):  # another order than the test's
        train_order = [ab(c) for c in constrained_order(train_cells, key, rng)]
        if len(train_order) < 2 or [pair(c) for c in train_order] != [pair(c) for c in test_order[:len(train_order)]]:
            break
    n_train = math.ceil(len(train_order) / per_session)
    start = 0
    for t in range(n_train):
        size = len(train_order) // n_train + (t < len(train_order) % n_train)
        sid = f"T{t + 1}"
        sessions.append(Session(sid, "training", [BTC(f"{sid}-{k + 1:02d}", sid, k + 1, "training", *c)
                                                   for k, c in enumerate(train_order[start:start + size])], timing.btc_s))
        start += size
    start = 0
    for i, size in enumerate(sizes):
        chunk = test_order[start:start + size]
        start += size
        # drawn backwards after the first test BTC's SRC, so that the block ends on another SRC
        stab = [ab(c) for c in constrained_order(stab_cells, key, rng, after=chunk[0][0])][::-1] if stab_cells else []
        sid = f"S{i + 1}"
        btcs = [BTC(f"{sid}-{k + 1:02d}", sid, k + 1, "stabilisation" if k < len(stab) else "test", *c)
                for k, c in enumerate(stab + chunk)]
        sessions.append(Session(sid, "test", btcs, timing.btc_s))
    return Plan(srcs, conditions, int(seed), timing, float(max_session_s), sessions, basis, objective)


# ------------------------------------------------------------------ ownership of outputs
HTML_GENERATOR = f'<meta name="generator" content="{WRITTEN_BY}">'


def written_here(path: str | os.PathLike) -> bool:
    """Was the existing file ``path`` written by this package (a JSON with our ``written_by`` key,
    or an HTML page with our generator tag)? Missing files count as ours to write."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return True
    if not path.is_file() or path.is_symlink():
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    if path.suffix.lower() == ".json":
        try:
            d = json.loads(text)
        except json.JSONDecodeError:
            return False
        return isinstance(d, dict) and d.get("written_by") == WRITTEN_BY
    if path.suffix.lower() in (".html", ".htm"):
        return HTML_GENERATOR in text
    return False


def write_owned_text(path: str | os.PathLike, text: str, what: str) -> Path:
    """Write ``text`` atomically to ``path`` unless it is a file this package did not write."""
    from ai4m_kit.files import write_text_atomic

    if not written_here(path):
        raise ValueError(f"{path}: exists and was not written by {what}; nothing was written")
    return write_text_atomic(path, text)
