"""Scores of an expert-viewing test: scales, printable scoring sheets, a crash-safe vote log,
an ipywidgets entry form and the CSV reader of votes in long format.

Scales: ``"0-10"``, the 11-grade numerical scale of the report's Figure 6 with the five BT.500
quality labels at the centres of equal fifths (9 Excellent, 7 Good, 5 Fair, 3 Poor, 1 Bad; the
placement of ITU-T P.910's 11-grade scale), and ``"1-5"``, the ACR five-grade quality scale
(5 Excellent, 4 Good, 3 Fair, 2 Poor, 1 Bad; ITU-R BT.500 / ITU-T P.910).
"""

from __future__ import annotations

import csv
import html
import math
import os
import time
from pathlib import Path
from typing import Iterable, Mapping

from ai4m_kit.quality.subjective_plan import HTML_GENERATOR, Plan, Session, write_owned_text

SCALES = {"0-10": (0, 10), "1-5": (1, 5)}
SCALE_LABELS = {"0-10": {9: "Excellent", 7: "Good", 5: "Fair", 3: "Poor", 1: "Bad"},
                "1-5": {5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}}
LOG_COLUMNS = ("viewer", "session", "btc", "pvs", "score", "timestamp")
REQUIRED_COLUMNS = ("viewer", "pvs", "score")


def scale_range(scale: str) -> tuple[int, int]:
    """``(lowest, highest)`` grade of ``scale`` ("0-10" or "1-5")."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}; got {scale!r}")
    return SCALES[scale]


def _safe_id(kind: str, value) -> str:
    value = str(value)
    if not value or value != value.strip() or any(c in value for c in ',"\n\r'):
        raise ValueError(f"{kind} id {value!r} must be non-empty, without commas, quotes, line breaks or "
                         "surrounding spaces")
    return value


# ------------------------------------------------------------------ scoring sheet
def scoring_sheet_html(session: Session, *, seat: str | int | None = None, subject: str | None = None,
                       scale: str = "0-10", title: str = "Expert viewing - scoring sheet") -> str:
    """A printable HTML scoring sheet for one session (the report's Figure 7): session, seat and
    subject fields, one row per vote (``Vote N``) with an A box and a B box, and the scale legend
    (Figure 6).

    Example:
        >>> from ai4m_kit.quality.subjective_plan import plan_sessions
        >>> page = scoring_sheet_html(plan_sessions(["a", "b"], ["x", "y"], seed=0, stabilisation=0).sessions[1])
        >>> page.count('class="vote"'), "Excellent" in page
        (2, True)
    """
    lo, hi = scale_range(scale)
    labels = SCALE_LABELS[scale]
    esc = html.escape
    legend = "".join(f"<tr><td class=grade>{g}</td><td>{esc(labels.get(g, ''))}</td></tr>" for g in range(hi, lo - 1, -1))
    rows = "".join(f'<tr class="vote"><td>Vote {b.position}</td><td class=box></td><td class=box></td></tr>'
                   for b in session.btcs)
    field = lambda v: esc(str(v)) if v not in (None, "") else "&nbsp;" * 24  # noqa: E731
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{HTML_GENERATOR}
<title>{esc(title)} - session {esc(session.id)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5cm; }}
h1 {{ font-size: 16pt; }} .fields span {{ display: inline-block; margin-right: 2em; border-bottom: 1px solid #000; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #000; padding: 2px 8px; }}
td.box {{ width: 2.2cm; height: 0.75cm; }} td.grade {{ text-align: center; font-weight: bold; }}
.layout {{ display: flex; gap: 2cm; align-items: flex-start; }}
@media print {{ body {{ margin: 1cm; }} tr.vote {{ page-break-inside: avoid; }} }}
</style></head><body>
<h1>{esc(title)}</h1>
<p class="fields"><span>Session: {esc(session.id)}</span><span>Seat: {field(seat)}</span>
<span>Subject: {field(subject)}</span><span>Date: {"&nbsp;" * 16}</span></p>
<p>For each vote, write a grade from {lo} to {hi} for sequence A and for sequence B.</p>
<div class="layout">
<table><thead><tr><th></th><th>A</th><th>B</th></tr></thead><tbody>{rows}</tbody></table>
<table><thead><tr><th colspan=2>Scale ({lo}-{hi})</th></tr></thead><tbody>{legend}</tbody></table>
</div></body></html>
"""


def write_scoring_sheet(session: Session, path: str | os.PathLike, **kwargs) -> Path:
    """Write :func:`scoring_sheet_html` atomically (never over a file this package did not write)."""
    return write_owned_text(path, scoring_sheet_html(session, **kwargs), "the scoring-sheet writer")


# ------------------------------------------------------------------ vote log
class ScoreLog:
    """Votes appended to a CSV file (``viewer,session,btc,pvs,score,timestamp``), one line per vote
    written by one ``write`` call then flushed and fsync-ed, so a killed kernel loses no vote it
    confirmed and never leaves half a line.

    Every vote is checked against ``plan`` (the BTC exists and shows that PVS), ``viewers`` (when
    given) and the scale; a second vote of a viewer for the same PVS of the same BTC is refused.

    Example:
        >>> import tempfile
        >>> from ai4m_kit.quality.subjective_plan import plan_sessions
        >>> plan = plan_sessions(["a", "b"], ["x", "y"], seed=0, stabilisation=0)
        >>> btc = plan.sessions[1].btcs[0]
        >>> log = ScoreLog(Path(tempfile.mkdtemp()) / "votes.csv", plan)
        >>> log.add("v1", btc.id, btc.a, 7)["score"]
        7
    """

    def __init__(self, path: str | os.PathLike, plan: Plan, *, viewers: Iterable[str] | None = None,
                 scale: str = "0-10"):
        self._fd = None
        self.path = Path(path)
        self.plan = plan
        self.scale = scale
        self.lo, self.hi = scale_range(scale)
        self.viewers = None if viewers is None else {_safe_id("viewer", v) for v in viewers}
        self._btcs = {b.id: b for b in plan.btcs}
        self._seen: set[tuple[str, str, str]] = set()
        header = ",".join(LOG_COLUMNS) + "\n"
        if self.path.exists() and self.path.stat().st_size > 0:
            data = self.path.read_bytes()
            if not data.startswith(header.encode()):
                raise ValueError(f"{self.path}: not a vote log (first line must be {header.strip()!r}); "
                                 "give a new file")
            if not data.endswith(b"\n"):  # a line cut by a crash mid-write: never confirmed, drop it
                os.truncate(self.path, data.rfind(b"\n") + 1)
            for row in csv.DictReader(self.path.read_text(encoding="utf-8").splitlines()):
                self._seen.add((row["viewer"], row["btc"], row["pvs"]))
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size == 0:
            self._write(header)

    def _write(self, line: str) -> None:
        os.write(self._fd, line.encode("utf-8"))
        os.fsync(self._fd)

    def add(self, viewer: str, btc: str, pvs: str, score) -> dict:
        """Append one vote and make it durable before returning it."""
        viewer = _safe_id("viewer", viewer)
        if self.viewers is not None and viewer not in self.viewers:
            raise LookupError(f"viewer {viewer!r} is not among the viewers of this log ({', '.join(sorted(self.viewers))})")
        if btc not in self._btcs:
            raise LookupError(f"BTC {btc!r} is not in the plan")
        cell = self._btcs[btc]
        if pvs not in cell.pvs:
            raise LookupError(f"PVS {pvs!r} is not shown in BTC {btc} (A={cell.a}, B={cell.b})")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not float(score).is_integer() \
                or not self.lo <= score <= self.hi:
            raise ValueError(f"score must be an integer grade from {self.lo} to {self.hi} ({self.scale}); got {score!r}")
        if (viewer, btc, pvs) in self._seen:
            raise ValueError(f"viewer {viewer} already voted for {pvs} in BTC {btc}")
        vote = {"viewer": viewer, "session": cell.session, "btc": btc, "pvs": pvs, "score": int(score),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self._write(",".join(str(vote[c]) for c in LOG_COLUMNS) + "\n")
        self._seen.add((viewer, btc, pvs))
        return vote

    def has_vote(self, viewer: str, btc: str, pvs: str) -> bool:
        return (viewer, btc, pvs) in self._seen

    def close(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass


def score_form(plan: Plan, log: ScoreLog, viewer: str, *, session: str | None = None):
    """An ipywidgets form that walks ``viewer`` through the BTCs of ``session`` (default the first
    test session): two grade buttons (A, B) with the scale's labels, and Save, which writes both
    votes through ``log`` and moves on. Returns the widget (``form.save`` is the Save button)."""
    import ipywidgets as w

    sess = plan.session(session) if session else next(s for s in plan.sessions if s.kind == "test")
    labels = SCALE_LABELS[log.scale]
    options = [(f"{g} {labels.get(g, '')}".strip(), g) for g in range(log.hi, log.lo - 1, -1)]
    state = {"k": 0}
    title = w.HTML()
    grade_a = w.ToggleButtons(options=options, value=None, description="A", style={"button_width": "6em"})
    grade_b = w.ToggleButtons(options=options, value=None, description="B", style={"button_width": "6em"})
    save = w.Button(description="Save", button_style="primary")
    status = w.HTML()

    def show():
        if state["k"] >= len(sess.btcs):
            title.value = f"<b>Session {sess.id}: all {len(sess.btcs)} votes saved.</b>"
            save.disabled = True
            return
        b = sess.btcs[state["k"]]
        title.value = f"<b>Session {sess.id} - Vote {b.position} of {len(sess.btcs)}</b> (viewer {viewer})"
        grade_a.value = grade_b.value = None

    def on_save(_):
        b = sess.btcs[state["k"]]
        if grade_a.value is None or grade_b.value is None:
            status.value = "Choose a grade for A and for B."
            return
        try:
            for pvs, grade in ((b.a, grade_a.value), (b.b, grade_b.value)):
                if not log.has_vote(viewer, b.id, pvs):
                    log.add(viewer, b.id, pvs, grade)
        except (ValueError, LookupError) as err:
            status.value = f"Not saved: {html.escape(str(err))}"
            return
        status.value = f"Vote {b.position} saved."
        state["k"] += 1
        show()

    save.on_click(on_save)
    show()
    form = w.VBox([title, grade_a, grade_b, save, status])
    form.save, form.grade_a, form.grade_b = save, grade_a, grade_b
    return form


# ------------------------------------------------------------------ CSV import
def read_scores(path: str | os.PathLike, scale: str = "0-10", *, plan: Plan | None = None,
                viewers: Iterable[str] | None = None):
    """Votes in long format from a CSV file: columns ``viewer,pvs,score`` (one vote per row; other
    columns such as ``btc``, ``session`` kept). Returns a pandas DataFrame (``score`` as float).

    Raises:
        ValueError: missing columns, an empty file, a non-numeric score or one outside the scale,
            an id unknown to ``plan``/``viewers``; the message names the file and the row (the line
            number, the header being line 1).
    """
    import pandas as pd

    lo, hi = scale_range(scale)
    path = Path(path)
    known_pvs = set(plan.pvs_ids) if plan is not None else None
    btcs = {b.id: b for b in plan.btcs} if plan is not None else None
    viewers = None if viewers is None else {str(v) for v in viewers}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (long format needs "
                             f"{','.join(REQUIRED_COLUMNS)}; found {','.join(columns) or 'nothing'})")
        reader.fieldnames = columns
        rows = []
        for row in reader:
            line = reader.line_num
            row = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k is not None}
            for c in ("viewer", "pvs"):
                if not row.get(c):
                    raise ValueError(f"{path}: row {line}: empty {c}")
            try:
                score = float(row["score"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}: row {line}: score {row['score']!r} is not a number") from None
            if not math.isfinite(score) or not lo <= score <= hi:
                raise ValueError(f"{path}: row {line}: score {row['score']} is outside the {scale} scale")
            if viewers is not None and row["viewer"] not in viewers:
                raise ValueError(f"{path}: row {line}: unknown viewer {row['viewer']!r}")
            if known_pvs is not None and row["pvs"] not in known_pvs:
                raise ValueError(f"{path}: row {line}: unknown PVS {row['pvs']!r} (not in the plan)")
            if btcs is not None and row.get("btc"):
                if row["btc"] not in btcs:
                    raise ValueError(f"{path}: row {line}: unknown BTC {row['btc']!r} (not in the plan)")
                if row["pvs"] not in btcs[row["btc"]].pvs:
                    raise ValueError(f"{path}: row {line}: PVS {row['pvs']!r} is not shown in BTC {row['btc']}")
            row["score"] = score
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no votes (only a header)")
    return pd.DataFrame(rows)


def votes_frame(votes: Iterable[Mapping] | object):
    """A DataFrame of votes from a DataFrame or an iterable of dicts with viewer, pvs, score."""
    import pandas as pd

    df = votes if isinstance(votes, pd.DataFrame) else pd.DataFrame(list(votes))
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"votes: missing column(s) {', '.join(missing)}")
    return df
