"""The BT.500 expert-viewing workflow of the AI4Media report (§3.3.4), in one import.

    from ai4m_kit.quality import subjective as sj
    plan = sj.plan_sessions(srcs, conditions, seed=0, objective={pvs: vmaf})   # sessions, BTCs
    sj.render_session(plan.sessions[1], clips, "S1.mp4", width=1920, height=1080)
    sj.write_scoring_sheet(plan.sessions[1], "S1.html")                        # Figure 7
    log = sj.ScoreLog("votes.csv", plan); sj.score_form(plan, log, "v01")      # entry
    res = sj.analyse(sj.read_scores("votes.csv"), plan=plan)                   # MOS, CI, screening
    sj.compare_objective(res, {"vmaf": {...}, "psnr": {...}})                  # P.1401

The parts live in ``subjective_plan`` (planner), ``subjective_render`` (FFmpeg, viewing
conditions), ``subjective_scores`` (scales, sheets, log, form, CSV) and ``subjective_analysis``
(MOS, screenings, objective vs subjective, SIMULATED panels).
"""

from ai4m_kit.quality.subjective_analysis import (BT500_RULE, PEARSON_RULE, FittedMapping, ObjectiveComparison,
                                                  SimulatedPanel, SubjectiveAnalysis, analyse, bt500_screening, ci95,
                                                  compare_objective, fit_mapping, logistic4, logistic5,
                                                  pearson_screening, simulate_panel)
from ai4m_kit.quality.subjective_plan import (BTC, PHASES, CellTiming, Plan, Session, constrained_order, plan_sessions,
                                              pvs_id, split_pvs_id, write_owned_text, written_here)
from ai4m_kit.quality.subjective_render import (DESIGN_DISTANCE_H, RenderedSession, ViewingConditions, find_font,
                                                frames_for, render_session, viewing_conditions, written_by_renderer)
from ai4m_kit.quality.subjective_scores import (LOG_COLUMNS, SCALE_LABELS, SCALES, ScoreLog, read_scores,
                                                score_form, scoring_sheet_html, write_scoring_sheet)

__all__ = ["BT500_RULE", "BTC", "CellTiming", "DESIGN_DISTANCE_H", "FittedMapping", "LOG_COLUMNS",
           "ObjectiveComparison", "PEARSON_RULE", "PHASES", "Plan", "RenderedSession", "SCALES", "SCALE_LABELS",
           "ScoreLog", "Session", "SimulatedPanel", "SubjectiveAnalysis", "ViewingConditions", "analyse",
           "bt500_screening", "ci95", "compare_objective", "constrained_order", "find_font", "fit_mapping",
           "frames_for", "logistic4", "logistic5", "pearson_screening", "plan_sessions", "pvs_id", "read_scores",
           "render_session", "score_form", "scoring_sheet_html", "simulate_panel", "split_pvs_id",
           "viewing_conditions", "write_owned_text", "write_scoring_sheet", "written_by_renderer", "written_here"]
