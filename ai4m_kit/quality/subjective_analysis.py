"""Analysis of expert-viewing votes: MOS with Student-t 95 % confidence intervals, the two
post-screenings of viewers (P.913 Pearson correlation, BT.500 kurtosis/P-Q procedure), the
comparison of objective metrics with the MOS (ITU-T P.1401) and a SIMULATED panel for tests.

Conventions (stated once, used everywhere):

* Votes are first averaged per viewer and PVS (a viewer sees each PVS in several BTCs of the
  pairwise design); MOS, confidence intervals and both screenings work on that viewer x PVS table,
  so the confidence interval reflects the spread between viewers (n = viewers who rated the PVS).
* CI95 = t(0.975, n - 1) * s / sqrt(n), Student's t with s the sample standard deviation (n - 1).
* Pearson screening (ITU-T P.913, clause "subject screening", after the VQEG HDTV procedure):
  Pearson correlation of a viewer's scores with the MOS of all viewers (the viewer included) over
  the PVS they rated; the viewer is rejected when r < ``threshold`` (0.75). ``pearson_reference=
  "others"`` correlates with the MOS of the other viewers instead. A viewer whose scores are all
  equal has no correlation (NaN) and is rejected.
* BT.500 screening (ITU-R BT.500-13 Annex 2 §2.3.1, unchanged in BT.500-14/-15): per PVS, mean,
  S (n - 1) and beta2 = m4 / m2^2 (moments over n); limits mean +/- 2 S when 2 <= beta2 <= 4
  (normal), else mean +/- sqrt(20) S; per viewer P counts scores >= the upper limit, Q those <= the
  lower one; rejected when (P + Q) / N > 0.05 and |P - Q| / (P + Q) < 0.3, N the PVS the viewer
  rated. A PVS with S = 0 flags nobody.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ai4m_kit.quality.subjective_plan import WRITTEN_BY, Plan
from ai4m_kit.quality.subjective_scores import scale_range, votes_frame

BT500_RULE = "ITU-R BT.500-13 Annex 2 §2.3.1 (unchanged in BT.500-14/-15)"
PEARSON_RULE = "ITU-T P.913 subject screening (VQEG HDTV): Pearson r of a viewer's scores with the MOS"


def ci95(values) -> tuple[float, float, int, float]:
    """``(mean, ci95 half-width, n, std)`` with Student's t (NaN interval for n < 2).

    Example:
        >>> m, h, n, s = ci95([6, 7, 8, 9])
        >>> m, round(h, 4), n
        (7.5, 2.0543, 4)
    """
    from scipy import stats

    x = np.asarray([v for v in values if not np.isnan(v)], dtype=float)
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), 0, float("nan")
    mean = float(x.mean())
    if n < 2:
        return mean, float("nan"), n, float("nan")
    s = float(x.std(ddof=1))
    return mean, float(stats.t.ppf(0.975, n - 1) * s / math.sqrt(n)), n, s


def _mos_table(matrix):
    import pandas as pd

    rows = {p: ci95(matrix[p].to_numpy()) for p in matrix.columns}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["mos", "ci95", "n", "std"]).rename_axis("pvs")


def pearson_screening(matrix, *, threshold: float = 0.75, reference: str = "all"):
    """Per viewer: Pearson r with the MOS (of ``all`` viewers or of the ``others``), PVS count,
    rejected (r < threshold or undefined). ``matrix``: viewers x PVS DataFrame (NaN: not rated)."""
    import pandas as pd

    if reference not in ("all", "others"):
        raise ValueError(f"pearson reference must be 'all' or 'others'; got {reference!r}")
    out = {}
    for v in matrix.index:
        own = matrix.loc[v]
        ref = matrix.mean(axis=0) if reference == "all" else matrix.drop(index=v).mean(axis=0)
        ok = own.notna() & ref.notna()
        x, y = own[ok].to_numpy(float), ref[ok].to_numpy(float)
        r = float("nan")
        if len(x) >= 2 and x.std() > 0 and y.std() > 0:
            r = float(np.corrcoef(x, y)[0, 1])
        out[v] = {"r": r, "n_pvs": int(ok.sum()), "rejected": bool(not (r >= threshold))}
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("viewer")


def bt500_screening(matrix):
    """The BT.500 P/Q screening (see the module docstring). Returns ``(per_viewer, per_pvs)``
    DataFrames: P, Q, N, ratio, balance, rejected; and mean, S, beta2, normal, k (2 or sqrt 20)."""
    import pandas as pd

    P = pd.Series(0, index=matrix.index)
    Q = pd.Series(0, index=matrix.index)
    per_pvs = {}
    for p in matrix.columns:
        col = matrix[p].dropna()
        u = col.to_numpy(float)
        n = len(u)
        if n < 2:
            per_pvs[p] = {"n": n, "mean": float(u.mean()) if n else np.nan, "S": np.nan, "beta2": np.nan,
                          "normal": False, "k": np.nan}
            continue
        mean = u.mean()
        S = u.std(ddof=1)
        m2 = ((u - mean) ** 2).mean()
        m4 = ((u - mean) ** 4).mean()
        beta2 = m4 / m2 ** 2 if m2 > 0 else float("nan")
        normal = bool(2 <= beta2 <= 4)
        k = 2.0 if normal else math.sqrt(20)
        per_pvs[p] = {"n": n, "mean": float(mean), "S": float(S), "beta2": float(beta2), "normal": normal, "k": k}
        if S == 0:  # everybody agrees: no outlier
            continue
        P[col.index[u >= mean + k * S]] += 1
        Q[col.index[u <= mean - k * S]] += 1
    N = matrix.notna().sum(axis=1)
    ratio = (P + Q) / N
    balance = (P - Q).abs() / (P + Q).where(P + Q > 0)
    rejected = (ratio > 0.05) & (balance < 0.3)
    per_viewer = pd.DataFrame({"P": P, "Q": Q, "N": N, "ratio": ratio, "balance": balance,
                               "rejected": rejected.fillna(False).astype(bool)}).rename_axis("viewer")
    return per_viewer, pd.DataFrame.from_dict(per_pvs, orient="index").rename_axis("pvs")


@dataclass
class SubjectiveAnalysis:
    """MOS, CI95 and the screening decisions with the statistics behind them."""

    mos: object  # DataFrame per pvs: mos, ci95, n, std (without the rejected viewers)
    mos_all: object  # the same with every viewer
    pearson: object  # DataFrame per viewer: r, n_pvs, rejected
    bt500: object  # DataFrame per viewer: P, Q, N, ratio, balance, rejected
    bt500_pvs: object  # DataFrame per pvs: n, mean, S, beta2, normal, k
    rejected: dict  # {"pearson": [...], "bt500": [...]}
    excluded_viewers: list
    settings: dict = field(default_factory=dict)

    def dataset(self):
        """The MOS tables as an xarray Dataset (dims ``pvs`` and ``viewer``)."""
        import xarray as xr

        ds = xr.Dataset({"mos": ("pvs", self.mos["mos"].to_numpy()), "ci95": ("pvs", self.mos["ci95"].to_numpy()),
                         "n": ("pvs", self.mos["n"].to_numpy()), "mos_all": ("pvs", self.mos_all["mos"].to_numpy()),
                         "pearson_r": ("viewer", self.pearson["r"].to_numpy()),
                         "bt500_P": ("viewer", self.bt500["P"].to_numpy()),
                         "bt500_Q": ("viewer", self.bt500["Q"].to_numpy())},
                        coords={"pvs": list(self.mos.index), "viewer": list(self.pearson.index)})
        ds.attrs.update({"ci": "95 % Student t", "pearson_rule": PEARSON_RULE, "bt500_rule": BT500_RULE,
                         **{k: str(v) for k, v in self.settings.items()}})
        return ds

    def to_dict(self) -> dict:
        def clean(x):
            return None if isinstance(x, float) and not math.isfinite(x) else x

        def table(df):
            return {str(i): {c: clean(v.item() if hasattr(v, "item") else v) for c, v in row.items()}
                    for i, row in df.iterrows()}

        return {"written_by": WRITTEN_BY,
                "mos": {str(p): clean(float(v)) for p, v in self.mos["mos"].items()},
                "ci95": {str(p): clean(float(v)) for p, v in self.mos["ci95"].items()},
                "n": {str(p): int(v) for p, v in self.mos["n"].items()},
                "rejected": {k: list(v) for k, v in self.rejected.items()},
                "excluded_viewers": list(self.excluded_viewers),
                "mos_all_viewers": {str(p): clean(float(v)) for p, v in self.mos_all["mos"].items()},
                "statistics": {"pearson": table(self.pearson), "bt500": table(self.bt500),
                               "bt500_pvs": table(self.bt500_pvs)},
                "rules": {"ci95": "Student t(0.975, n-1) * s / sqrt(n), n = viewers who rated the PVS",
                          "pearson": PEARSON_RULE, "bt500": BT500_RULE},
                "settings": self.settings}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def analyse(scores, *, threshold: float = 0.75, scale: str = "0-10", plan: Plan | None = None,
            pearson_reference: str = "all", exclude: str = "union") -> SubjectiveAnalysis:
    """MOS and CI95 per PVS, both viewer screenings, and the MOS without the rejected viewers.

    Args:
        scores: votes in long format (DataFrame or dicts with viewer, pvs, score; e.g. from
            :func:`read_scores`).
        threshold: Pearson rejection threshold (P.913: 0.75).
        scale: ``"0-10"`` or ``"1-5"`` (ACR); scores outside it are an error.
        plan: when given, votes of training and stabilisation BTCs (column ``btc``) are dropped.
        pearson_reference: ``"all"`` (default, P.913) or ``"others"``.
        exclude: viewers left out of the final MOS: ``"union"`` of both screenings (default),
            ``"pearson"``, ``"bt500"`` or ``"none"``.

    Example:
        >>> votes = [{"viewer": v, "pvs": p, "score": s} for v, row in
        ...          {"v1": [2, 5, 8], "v2": [3, 5, 7], "v3": [8, 5, 2]}.items() for p, s in zip("xyz", row)]
        >>> res = analyse(votes)
        >>> res.rejected["pearson"], list(res.mos["mos"].round(2))
        (['v3'], [2.5, 5.0, 7.5])
    """
    df = votes_frame(scores).copy()
    lo, hi = scale_range(scale)
    if exclude not in ("union", "pearson", "bt500", "none"):
        raise ValueError(f"exclude must be 'union', 'pearson', 'bt500' or 'none'; got {exclude!r}")
    df["viewer"] = df["viewer"].astype(str)
    df["pvs"] = df["pvs"].astype(str)
    import pandas as pd

    num = pd.to_numeric(df["score"], errors="coerce")
    bad = df.index[num.isna() | (num < lo) | (num > hi)]
    if len(bad):
        raise ValueError(f"votes: score {df.loc[bad[0], 'score']!r} of viewer {df.loc[bad[0], 'viewer']} for "
                         f"{df.loc[bad[0], 'pvs']} is not a number on the {scale} scale")
    df["score"] = num.astype(float)
    dropped = 0
    if plan is not None:
        if "btc" not in df.columns:
            raise ValueError("votes have no btc column: cannot tell stabilisation votes from test votes")
        phase = {b.id: b.phase for b in plan.btcs}
        unknown = sorted(set(df["btc"]) - set(phase))
        if unknown:
            raise ValueError(f"votes: unknown BTC {unknown[0]!r} (not in the plan)")
        keep = df["btc"].map(phase) == "test"
        dropped = int((~keep).sum())
        df = df[keep]
    if df.empty:
        raise ValueError("no test votes to analyse")
    matrix = df.pivot_table(index="viewer", columns="pvs", values="score", aggfunc="mean")
    mos_all = _mos_table(matrix)
    pearson = pearson_screening(matrix, threshold=threshold, reference=pearson_reference)
    bt500, bt500_pvs = bt500_screening(matrix)
    rejected = {"pearson": [str(v) for v in pearson.index[pearson["rejected"]]],
                "bt500": [str(v) for v in bt500.index[bt500["rejected"]]]}
    chosen = {"union": rejected["pearson"] + rejected["bt500"], "pearson": rejected["pearson"],
              "bt500": rejected["bt500"], "none": []}[exclude]
    excluded = sorted(set(chosen))
    kept = matrix.drop(index=excluded)
    mos = _mos_table(kept) if len(kept) else mos_all.assign(mos=np.nan, ci95=np.nan, n=0, std=np.nan)
    settings = {"threshold": threshold, "scale": scale, "pearson_reference": pearson_reference, "exclude": exclude,
                "viewers": int(matrix.shape[0]), "pvs": int(matrix.shape[1]), "votes": int(len(df)),
                "votes_dropped_not_test": dropped}
    return SubjectiveAnalysis(mos, mos_all, pearson, bt500, bt500_pvs, rejected, excluded, settings)


# ------------------------------------------------------------------ objective vs subjective
def logistic4(x, b1, b2, b3, b4):
    """VQEG / P.1401 four-parameter logistic: b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))."""
    return b2 + (b1 - b2) / (1 + np.exp(-(x - b3) / np.abs(b4)))


def logistic5(x, b1, b2, b3, b4, b5):
    """Five-parameter logistic: b1 (1/2 - 1 / (1 + exp(b2 (x - b3)))) + b4 x + b5."""
    return b1 * (0.5 - 1 / (1 + np.exp(b2 * (x - b3)))) + b4 * x + b5


@dataclass
class FittedMapping:
    """A monotonic mapping from metric values to predicted MOS; call it on metric values."""

    kind: str
    params: list
    x_range: tuple
    dof: int
    _f: Callable = field(repr=False, default=None)

    def __call__(self, x):
        return self._f(np.asarray(x, dtype=float))


def _fit_cubic(x, y) -> FittedMapping:
    """Third-order polynomial, monotonic over the data range (P.1401), by least squares with the
    derivative constrained (sign of the Spearman correlation) on a grid of the normalised range."""
    from scipy import optimize, stats

    x0, span = float(x.min()), float(np.ptp(x)) or 1.0
    t = (x - x0) / span
    sign = 1.0 if stats.spearmanr(x, y)[0] >= 0 else -1.0
    grid = np.linspace(0, 1, 101)
    V = np.vander(t, 4, increasing=True)
    start = np.linalg.lstsq(V, y, rcond=None)[0]
    if np.any(sign * (start[1] + 2 * start[2] * grid + 3 * start[3] * grid ** 2) < 0):
        lin = np.polyfit(t, y, 1)
        start = np.array([lin[1], lin[0] if sign * lin[0] >= 0 else 0.0, 0.0, 0.0])
    cons = {"type": "ineq", "fun": lambda a: sign * (a[1] + 2 * a[2] * grid + 3 * a[3] * grid ** 2)}
    res = optimize.minimize(lambda a: np.sum((V @ a - y) ** 2), start, constraints=[cons], method="SLSQP",
                            options={"maxiter": 500, "ftol": 1e-12})
    a = res.x if res.success else start

    def f(v):
        tv = (v - x0) / span
        return a[0] + a[1] * tv + a[2] * tv ** 2 + a[3] * tv ** 3

    return FittedMapping("cubic", [float(v) for v in a], (float(x.min()), float(x.max())), 4, f)


def fit_mapping(x, y, kind: str = "cubic") -> FittedMapping:
    """Fit metric values ``x`` to MOS ``y``: ``"cubic"`` (monotonic third-order polynomial),
    ``"logistic4"`` or ``"logistic5"`` (scipy.optimize.curve_fit)."""
    from scipy import optimize

    x, y = np.asarray(x, float), np.asarray(y, float)
    if kind == "cubic":
        return _fit_cubic(x, y)
    if kind not in ("logistic4", "logistic5"):
        raise ValueError(f"mapping must be 'cubic', 'logistic4' or 'logistic5'; got {kind!r}")
    rising = np.corrcoef(x, y)[0, 1] >= 0
    lo_y, hi_y = float(y.min()), float(y.max())
    scale_x = float(np.std(x)) or 1.0
    if kind == "logistic4":
        f, p0 = logistic4, [hi_y if rising else lo_y, lo_y if rising else hi_y, float(np.median(x)), scale_x]
    else:
        f, p0 = logistic5, [(hi_y - lo_y) * (-1 if rising else 1), 1 / scale_x, float(np.median(x)), 0.0, float(y.mean())]
    try:
        params, _ = optimize.curve_fit(f, x, y, p0=p0, maxfev=20000)
    except RuntimeError as err:
        raise ValueError(f"{kind} mapping did not converge: {err}") from None
    return FittedMapping(kind, [float(v) for v in params], (float(x.min()), float(x.max())), len(params),
                         lambda v, p=params: f(v, *p))


@dataclass
class ObjectiveComparison:
    table: object  # DataFrame per metric: plcc, srocc, rmse, outlier_ratio, n, mapping
    mappings: dict  # metric -> FittedMapping (for plotting)
    predictions: object  # DataFrame pvs x metric of mapped values

    def to_dict(self) -> dict:
        return {"written_by": WRITTEN_BY, "metrics": {m: {k: (v.item() if hasattr(v, "item") else v)
                                                          for k, v in row.items()}
                                                      for m, row in self.table.iterrows()},
                "mappings": {m: {"kind": f.kind, "params": f.params, "x_range": list(f.x_range)}
                             for m, f in self.mappings.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def compare_objective(mos, metric_values, *, mapping: str = "cubic", sem=None) -> ObjectiveComparison:
    """PLCC after a monotonic mapping, SROCC, RMSE and outlier ratio of each metric against the MOS
    (ITU-T P.1401).

    Args:
        mos: a :class:`SubjectiveAnalysis`, or ``{pvs: MOS}``.
        metric_values: ``{metric: {pvs: value}}`` (or ``{pvs: value}`` for one metric "metric").
        mapping: ``"cubic"`` (monotonic third-order polynomial, default), ``"logistic4"``, ``"logistic5"``.
        sem: ``{pvs: standard error of the MOS}`` (s / sqrt(n)) when ``mos`` is a plain mapping; the
            outlier ratio needs it.

    RMSE = sqrt(sum(e^2) / (N - d)), d the mapping's parameters (P.1401). A PVS is an outlier when
    |MOS - predicted| > 2 * sem (P.1401, 2 standard errors, about the CI95 half-width).
    """
    import pandas as pd
    from scipy import stats

    if isinstance(mos, SubjectiveAnalysis):
        m = mos.mos["mos"].astype(float)
        sem = (mos.mos["std"] / np.sqrt(mos.mos["n"])).astype(float)
    else:
        m = pd.Series({str(k): float(v) for k, v in dict(mos).items()})
        sem = None if sem is None else pd.Series({str(k): float(v) for k, v in dict(sem).items()})
    metric_values = dict(metric_values)
    if metric_values and not isinstance(next(iter(metric_values.values())), Mapping):
        metric_values = {"metric": metric_values}
    rows, maps, preds = {}, {}, {}
    for name, values in metric_values.items():
        vals = pd.Series({str(k): float(v) for k, v in dict(values).items()})
        common = [p for p in m.index if p in vals.index and np.isfinite(m[p]) and np.isfinite(vals[p])]
        if len(common) < 5:
            raise ValueError(f"metric {name!r}: {len(common)} PVS with both a MOS and a value; need at least 5")
        x, y = vals[common].to_numpy(), m[common].to_numpy()
        fm = fit_mapping(x, y, mapping)
        pred = fm(x)
        err = y - pred
        outliers = float("nan")
        if sem is not None:
            s = sem.reindex(common).to_numpy(float)
            outliers = float(np.mean(np.abs(err) > 2 * s))
        rows[name] = {"plcc": float(stats.pearsonr(pred, y)[0]), "srocc": float(stats.spearmanr(x, y)[0]),
                      "rmse": float(math.sqrt(np.sum(err ** 2) / max(1, len(y) - fm.dof))),
                      "outlier_ratio": outliers, "n": len(common), "mapping": fm.kind}
        maps[name] = fm
        preds[name] = pd.Series(pred, index=common)
    return ObjectiveComparison(pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric"), maps,
                               pd.DataFrame(preds))


# ------------------------------------------------------------------ simulated panel
@dataclass
class SimulatedPanel:
    """SIMULATED votes (not measured): see :func:`simulate_panel`."""

    scores: object  # DataFrame viewer, pvs, repetition, score (attrs["SIMULATED"] = True)
    outliers: list
    kinds: dict  # viewer -> "normal", "random" or "inverted"
    bias: dict
    noise: dict
    simulated: bool = True
    label: str = "SIMULATED panel: synthetic votes, not measured from viewers"


def simulate_panel(true_quality: Mapping[str, float], *, viewers: int = 15, outliers: int = 2, seed: int,
                   scale: str = "0-10", repetitions: int = 1, bias_sd: float = 0.5,
                   noise_sd: tuple[float, float] = (0.3, 1.0)) -> SimulatedPanel:
    """SIMULATED votes of a panel on ``true_quality`` ({pvs: quality on the scale}).

    SIMULATED: not data from people. Each attentive viewer i scores ``q + b_i + e`` with a bias
    b_i ~ N(0, bias_sd) and noise e ~ N(0, s_i), s_i ~ U(noise_sd), rounded to a grade and clipped
    to the scale. The last ``outliers`` viewers are inattentive: alternately random (uniform grades)
    and inverted (``lo + hi - q`` plus noise). The result says SIMULATED in ``label``,
    ``simulated`` and the DataFrame's ``attrs``.

    Example:
        >>> panel = simulate_panel({"a/x": 8, "a/y": 3}, viewers=4, outliers=1, seed=0)
        >>> panel.simulated, panel.outliers, len(panel.scores)
        (True, ['v04'], 8)
    """
    import pandas as pd

    lo, hi = scale_range(scale)
    if not 0 <= outliers <= viewers or viewers < 1:
        raise ValueError(f"need 0 <= outliers <= viewers and viewers >= 1; got viewers={viewers}, outliers={outliers}")
    rng = np.random.default_rng(seed)
    ids = [f"v{i + 1:02d}" for i in range(viewers)]
    kinds = {v: "normal" for v in ids}
    for k, v in enumerate(ids[viewers - outliers:]):
        kinds[v] = "random" if k % 2 == 0 else "inverted"
    bias = {v: float(rng.normal(0, bias_sd)) for v in ids}
    noise = {v: float(rng.uniform(*noise_sd)) for v in ids}
    rows = []
    for v in ids:
        for p, q in true_quality.items():
            for r in range(repetitions):
                if kinds[v] == "random":
                    s = float(rng.integers(lo, hi + 1))
                else:
                    target = q if kinds[v] == "normal" else lo + hi - q
                    s = float(np.clip(np.rint(target + bias[v] + rng.normal(0, noise[v])), lo, hi))
                rows.append({"viewer": v, "pvs": str(p), "repetition": r + 1, "score": s})
    df = pd.DataFrame(rows)
    df.attrs["SIMULATED"] = True
    return SimulatedPanel(df, [v for v in ids if kinds[v] != "normal"], kinds, bias, noise)
