"""Trust: bad input through the command line and the API gets one clear line and a non-zero exit,
and no file of the user's is lost or changed; outputs are never stale or mixed; a killed run
resumes to the same result as an uninterrupted one."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ai4m_kit.cli import main
from ai4m_kit.data import DataError, write_png, write_video
from ai4m_kit.data.sample import OWNER_FILE, generate_sample
from ai4m_kit.profiles import resolve_profile
from ai4m_kit.studies import content_coverage
from ai4m_kit.video import coverage as cov


def tree_digest(root: Path) -> str:
    """Digest of every file (name and bytes) under ``root``: equal digests, nothing lost or changed."""
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def frames(seed: int, t: int = 3, h: int = 16, w: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def make_clip(root: Path, name: str, seed: int, t: int = 3, t_low: int | None = None, low_size=(8, 12)) -> Path:
    """A BSC4K-style clip: ``name/4k`` (16x24) and ``name/1080p`` frame folders."""
    hr = frames(seed, t)
    lr = frames(seed + 100, t if t_low is None else t_low, *low_size)
    for label, fr in (("4k", hr), ("1080p", lr)):
        folder = root / name / label
        folder.mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(fr):
            write_png(folder / f"frame_{k:04d}.png", f)
    return root / name


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, *needles: str, status: int | None = None) -> None:
    assert rc != 0, "a bad input must not exit 0"
    if status is not None:
        assert rc == status
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("ai4m") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.fixture()
def two_corpora(tmp_path):
    a, b = tmp_path / "corpA", tmp_path / "corpB"
    for root, seed in ((a, 0), (b, 10)):
        make_clip(root, "people", seed)
        make_clip(root, "text", seed + 1)
    return a, b


# ---------------------------------------------------------------- sample: never destroys user data

def test_sample_refuses_a_folder_with_the_users_clip_and_manifest(tmp_path, capsys):
    mine = tmp_path / "mine"
    make_clip(mine, "people_astronaut", 3)  # a clip named like one of the sample's
    (mine / "people_astronaut" / "camera.json").write_text("{}")
    (mine / "manifest.csv").write_text("clip,category\npeople_astronaut,people\n")
    before = tree_digest(mine)
    rc, _, err = run_cli(capsys, "sample", mine, "--profile", "smoke", "--frames", "2")
    assert_one_line_error(rc, err, str(mine), "not made by `ai4m sample`", status=1)
    assert tree_digest(mine) == before


def test_sample_refuses_any_foreign_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    rc, _, err = run_cli(capsys, "sample", tmp_path, "--profile", "smoke", "--frames", "2")
    assert_one_line_error(rc, err, "not empty")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_sample_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = run_cli(capsys, "sample", f, "--frames", "2")
    assert_one_line_error(rc, err, str(f), "not a folder")
    assert f.read_text() == "x"


def test_sample_needs_force_to_replace_its_own_corpus_and_keeps_user_files(tmp_path, capsys):
    root = tmp_path / "s"
    assert run_cli(capsys, "sample", root, "--profile", "smoke", "--frames", "2")[0] == 0
    before = tree_digest(root)
    rc, _, err = run_cli(capsys, "sample", root, "--profile", "smoke", "--frames", "3")
    assert_one_line_error(rc, err, "--force")
    assert tree_digest(root) == before
    (root / "people_astronaut" / "4k" / "frame_0002.png").write_bytes(b"the user's frame")  # in the way
    rc, _, err = run_cli(capsys, "sample", root, "--profile", "smoke", "--frames", "3", "--force")
    assert_one_line_error(rc, err, "frame_0002.png", "not written by `ai4m sample`")
    assert (root / "people_astronaut" / "4k" / "frame_0002.png").read_bytes() == b"the user's frame"
    (root / "people_astronaut" / "4k" / "frame_0002.png").unlink()
    (root / "mine.txt").write_text("keep")
    assert run_cli(capsys, "sample", root, "--profile", "smoke", "--frames", "3", "--force")[0] == 0
    assert (root / "mine.txt").read_text() == "keep"
    assert len(list((root / "people_astronaut" / "4k").glob("*.png"))) == 3


def test_sample_corrupt_ownership_record(tmp_path, capsys):
    (tmp_path / OWNER_FILE).write_text("{not json")
    rc, _, err = run_cli(capsys, "sample", tmp_path, "--frames", "2", "--force")
    assert_one_line_error(rc, err, OWNER_FILE, "corrupt ownership record")


@pytest.mark.parametrize("argv, needle", [
    (["--frames", "1"], "--frames must be >= 2"),
    (["--if-missing", "--frames", "3"], "drop --frames"),
    (["--profile", "huge"], "invalid choice"),
    (["--size", "8k"], "invalid choice"),
    (["--seed", "x"], "invalid int value"),
])
def test_sample_bad_arguments(tmp_path, capsys, argv, needle):
    rc, _, err = run_cli(capsys, "sample", tmp_path / "s", *argv)
    assert_one_line_error(rc, err, needle, status=2)
    assert not (tmp_path / "s").exists()


def test_explicit_profile_beats_the_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AI4M_PROFILE", "paper")
    assert resolve_profile("smoke") == "smoke" and resolve_profile(default="demo") == "paper"
    assert run_cli(capsys, "sample", tmp_path / "s", "--profile", "smoke", "--frames", "2")[0] == 0
    assert json.loads((tmp_path / "s" / "corpus.json").read_text())["profile"] == "smoke"


def test_bad_profile_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("AI4M_PROFILE", "bogus")
    with pytest.raises(ValueError, match=r"\$AI4M_PROFILE must be one of .* got 'bogus'"):
        resolve_profile(default="demo")


# ---------------------------------------------------------------- coverage: never stale, never mixed

def test_coverage_other_corpus_into_the_same_out_is_refused(two_corpora, tmp_path, capsys):
    a, b = two_corpora
    out = tmp_path / "same.nc"
    assert run_cli(capsys, "coverage", a, "--out", out, "--no-progress")[0] == 0
    before = out.read_bytes()
    rc, _, err = run_cli(capsys, "coverage", b, "--out", out, "--no-progress")
    assert_one_line_error(rc, err, str(out), "not among the paths", "--force")
    assert out.read_bytes() == before
    assert run_cli(capsys, "coverage", b, "--out", out, "--no-progress", "--force")[0] == 0
    fresh = cov.run_corpus(b, progress=False, definitions="p910-2021")
    xr.testing.assert_allclose(cov.load(out)[["si", "ti", "cf"]], fresh[["si", "ti", "cf"]])


def test_coverage_other_parameters_into_the_same_out_are_refused(two_corpora, tmp_path, capsys):
    a, _ = two_corpora
    out = tmp_path / "c.nc"
    assert run_cli(capsys, "coverage", a, "--out", out, "--no-progress")[0] == 0
    before = out.read_bytes()
    for extra, needle in ((["--definition", "both"], "definitions"), (["--float64"], "dtype"),
                          (["--color-range", "full"], "color_range")):
        rc, _, err = run_cli(capsys, "coverage", a, "--out", out, "--no-progress", *extra)
        assert_one_line_error(rc, err, "computed with other parameters", needle)
        assert out.read_bytes() == before


def test_clips_with_the_same_name_in_two_folders_get_distinct_ids(two_corpora, tmp_path, capsys):
    a, b = two_corpora
    out = tmp_path / "both.nc"
    assert run_cli(capsys, "coverage", a, b, "--out", out, "--no-progress")[0] == 0
    ds = cov.load(out)
    ids = [str(c) for c in ds["clip"].values]
    assert len(set(ids)) == 8 and "corpA/people/4k" in ids and "corpB/people/4k" in ids
    alone = cov.run_corpus(b / "people", progress=False, definitions="p910-2021")
    np.testing.assert_allclose(ds["si"].sel(clip="corpB/people/4k").values[0],
                               alone["si"].sel(clip="people/4k").values[0])


def test_the_same_clip_given_twice(two_corpora, tmp_path, capsys):
    a, _ = two_corpora
    rc, _, err = run_cli(capsys, "coverage", a / "people", a / "people", "--out", tmp_path / "x.nc", "--no-progress")
    assert_one_line_error(rc, err, "more than once")
    assert not (tmp_path / "x.nc").exists()


def test_replaced_frames_are_recomputed_not_served_from_the_output(two_corpora, tmp_path):
    a, _ = two_corpora
    out = tmp_path / "c.nc"
    first = cov.run_corpus(a, out=out, progress=False, definitions="p910-2021")
    time.sleep(0.01)
    for k, f in enumerate(frames(99)):  # the user replaces a clip's frames
        write_png(a / "text" / "4k" / f"frame_{k:04d}.png", f)
    second = cov.run_corpus(a, out=out, progress=False, definitions="p910-2021")
    fresh = cov.run_corpus(a, progress=False, definitions="p910-2021")
    xr.testing.assert_allclose(second[["si", "ti", "cf"]], fresh[["si", "ti", "cf"]])
    assert not np.allclose(first["si"].sel(clip="text/4k"), second["si"].sel(clip="text/4k"))
    xr.testing.assert_identical(first.sel(clip="people/4k"), second.sel(clip="people/4k"))


def test_study_cache_follows_replaced_frames(two_corpora, tmp_path, monkeypatch):
    a, _ = two_corpora
    monkeypatch.chdir(tmp_path)  # the study caches under ./.cache
    first = content_coverage.run("smoke", corpus=a, progress=False)
    time.sleep(0.01)
    for k, f in enumerate(frames(77)):
        write_png(a / "people" / "1080p" / f"frame_{k:04d}.png", f[:8, :12])
    second = content_coverage.run("smoke", corpus=a, progress=False)
    fresh = content_coverage.run("smoke", corpus=a, progress=False, cache=False)
    xr.testing.assert_allclose(second["si"], fresh["si"])
    assert not np.allclose(first["si"].sel(clip="people/1080p"), second["si"].sel(clip="people/1080p"))


@pytest.mark.parametrize("content, needle", [
    (b"this is not NetCDF", "not a coverage file"),
    (None, "not written by ai4m coverage"),
])
def test_foreign_out_file_is_never_overwritten(two_corpora, tmp_path, capsys, content, needle):
    a, _ = two_corpora
    out = tmp_path / "theirs.nc"
    if content is None:  # a valid NetCDF file of someone else
        xr.Dataset({"x": ("t", [1.0, 2.0])}).to_netcdf(out, engine="scipy")
    else:
        out.write_bytes(content)
    before = out.read_bytes()
    for extra in ([], ["--force"]):
        rc, _, err = run_cli(capsys, "coverage", a, "--out", out, "--no-progress", *extra)
        assert_one_line_error(rc, err, str(out), needle)
        assert out.read_bytes() == before


def test_mismatched_pair_frame_counts(tmp_path, capsys):
    make_clip(tmp_path / "c", "short", 1, t=4, t_low=3)
    rc, _, err = run_cli(capsys, "coverage", tmp_path / "c", "--out", tmp_path / "o.nc", "--no-progress")
    assert_one_line_error(rc, err, "mismatched pair short", "4 frames", "3")
    assert not (tmp_path / "o.nc").exists()


def test_mismatched_pair_sizes(tmp_path, capsys):
    make_clip(tmp_path / "c", "odd", 1, low_size=(8, 11))
    rc, _, err = run_cli(capsys, "coverage", tmp_path / "c", "--out", tmp_path / "o.nc", "--no-progress")
    assert_one_line_error(rc, err, "mismatched pair odd", "exactly 2x")


def test_skip_bad_records_the_clip_and_goes_on(tmp_path, capsys):
    root = tmp_path / "c"
    make_clip(root, "good", 1)
    make_clip(root, "short", 2, t=4, t_low=3)
    out = tmp_path / "o.nc"
    rc, text, _ = run_cli(capsys, "coverage", root, "--out", out, "--no-progress", "--skip-bad")
    assert rc == 1 and "skipped short/4k: mismatched pair short" in text
    ds = cov.load(out)
    errors = dict(zip(ds["clip"].values.astype(str), ds["error"].values.astype(str)))
    assert errors["good/4k"] == "" and "mismatched pair" in errors["short/1080p"]
    assert np.isfinite(ds["si"].sel(clip="good/4k").values[0, :3]).all()
    assert np.isnan(ds["si"].sel(clip="short/4k").values).all()


@pytest.mark.parametrize("suffix", [".y4m", ".mkv"])
def test_truncated_video_is_an_error_not_half_a_clip(tmp_path, capsys, suffix):
    luma = np.random.default_rng(0).integers(16, 236, (12, 32, 48)).astype(np.uint8)
    full = write_video(tmp_path / f"full{suffix}", luma)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    rc, _, err = run_cli(capsys, "coverage", cut, "--out", tmp_path / "o.nc", "--no-progress")
    assert_one_line_error(rc, err, str(cut), "truncated", "only")
    assert not (tmp_path / "o.nc").exists()
    rc, text, _ = run_cli(capsys, "coverage", full, cut, "--out", tmp_path / "o.nc", "--no-progress", "--skip-bad")
    assert rc == 1 and "skipped" in text
    assert int(cov.load(tmp_path / "o.nc")["frames"].sel(clip="full/native")) == 12


def test_corrupt_frame_names_the_file(tmp_path, capsys):
    make_clip(tmp_path / "c", "broken", 1)
    bad = tmp_path / "c" / "broken" / "4k" / "frame_0001.png"
    bad.write_bytes(bad.read_bytes()[:60])
    rc, _, err = run_cli(capsys, "coverage", tmp_path / "c", "--out", tmp_path / "o.nc", "--no-progress")
    assert_one_line_error(rc, err, "frame_0001.png", "corrupt")


def test_missing_and_empty_inputs(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "coverage", tmp_path / "nope", "--out", tmp_path / "o.nc")
    assert_one_line_error(rc, err, "nope", "no such file or folder")
    (tmp_path / "empty").mkdir()
    rc, _, err = run_cli(capsys, "coverage", tmp_path / "empty", "--out", tmp_path / "o.nc")
    assert_one_line_error(rc, err, "empty", "no frame folders or video files")
    assert not (tmp_path / "o.nc").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--chunk", "0"], "--chunk"),
    (["--save-every", "-1"], "--save-every"),
    (["--threads", "0"], "--threads"),
    (["--definition", "p910-1999"], "invalid choice"),
    (["--color-range", "tv"], "invalid choice"),
    (["--device", "cuda"], "CUDA is not available"),
    (["--device", "warp9"], "not a torch device"),
])
def test_coverage_bad_arguments(two_corpora, tmp_path, capsys, argv, needle):
    if needle == "CUDA is not available":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    a, _ = two_corpora
    rc, _, err = run_cli(capsys, "coverage", a, "--out", tmp_path / "o.nc", "--no-progress", *argv)
    assert_one_line_error(rc, err, needle, status=2)
    assert not (tmp_path / "o.nc").exists()


def test_out_is_a_folder(two_corpora, tmp_path, capsys):
    a, _ = two_corpora
    rc, _, err = run_cli(capsys, "coverage", a, "--out", tmp_path, "--no-progress")
    assert_one_line_error(rc, err, "--out", "is a folder", status=2)


def _full_range_video(path: Path) -> np.ndarray:
    """An untagged 8-bit video whose luma spans 0-255 (as from an RGB conversion)."""
    yy, xx = np.mgrid[0:32, 0:48]
    luma = np.stack([((xx * 5 + yy * 3 + 17 * t) % 256) for t in range(4)]).astype(np.uint8)
    luma[:, 0, 0], luma[:, 0, 1] = 0, 255
    write_video(path, luma)
    return luma


def test_untagged_full_range_video_is_detected_and_stated(tmp_path, capsys):
    import torch

    from ai4m_kit.video.descriptors import siti

    video = tmp_path / "rgbsource.y4m"
    luma = _full_range_video(video)
    out = tmp_path / "o.nc"
    rc, text, _ = run_cli(capsys, "coverage", video, "--out", out, "--no-progress")
    assert rc == 0 and "colour range full (detected)" in text
    ds = cov.load(out)
    assert str(ds["color_range"].values[0]) == "full" and str(ds["color_range_source"].values[0]) == "detected"
    si_full, _ = siti(torch.from_numpy(luma), definition="p910-2021", color_range="full", dtype=torch.float64)
    np.testing.assert_allclose(ds["si"].values[0, 0], si_full.numpy(), rtol=1e-5)
    rc, _, _ = run_cli(capsys, "coverage", video, "--out", tmp_path / "lim.nc", "--no-progress",
                       "--color-range", "limited")
    lim = cov.load(tmp_path / "lim.nc")
    assert str(lim["color_range_source"].values[0]) == "option"
    assert lim["si"].values[0, 0, 0] > 1.1 * ds["si"].values[0, 0, 0]  # limited-range scaling inflates SI


def test_untagged_video_leaving_the_range_later_warns(tmp_path):
    luma = np.full((6, 16, 24), 120, np.uint8)
    luma[:, ::2] = 60
    luma[5, 0, 0] = 250  # only the last frame leaves 16-235
    video = write_video(tmp_path / "late.y4m", luma)
    with pytest.warns(UserWarning, match="late.y4m: no colour-range tag and luma outside 16-235 from frame 4"):
        res = cov.analyse_clip(video, chunk=4)
    assert res["color_range"] == "limited" and res["color_range_source"].startswith("assumed")


def test_sigterm_saves_finished_clips_and_resume_is_identical(two_corpora, tmp_path, monkeypatch):
    a, _ = two_corpora
    out = tmp_path / "c.nc"
    real = cov.analyse_clip
    calls = []

    def terminated_on_third(path, **kw):
        calls.append(path)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(path, **kw)

    monkeypatch.setattr(cov, "analyse_clip", terminated_on_third)
    with pytest.raises(KeyboardInterrupt):
        cov.run_corpus(a, out=out, progress=False)
    assert cov.load(out).sizes["clip"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    monkeypatch.setattr(cov, "analyse_clip", real)
    resumed = cov.run_corpus(a, out=out, progress=False)
    straight = cov.run_corpus(a, out=tmp_path / "straight.nc", progress=False)
    assert resumed.identical(straight)
    assert cov.load(out).identical(cov.load(tmp_path / "straight.nc"))


# ---------------------------------------------------------------- report, bench, the CLI itself

def test_report_only_matching_nothing(capsys, tmp_path):
    nbs = Path(__file__).resolve().parents[1] / "notebooks"
    rc, _, err = run_cli(capsys, "report", "--notebooks", nbs, "--out", tmp_path / "r", "--only", "99")
    assert_one_line_error(rc, err, "--only 99", "matches no notebook", "00_sample_corpus")
    assert not (tmp_path / "r").exists()


def test_report_missing_notebook_folder(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "report", "--notebooks", tmp_path / "none", "--out", tmp_path / "r")
    assert_one_line_error(rc, err, "none", "no such notebook folder")


def test_report_never_writes_into_a_foreign_folder(capsys, tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    (nbs / "01_x.ipynb").write_text("{}")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.html").write_text("<p>my homepage</p>")
    rc, _, err = run_cli(capsys, "report", "--notebooks", nbs, "--out", docs)
    assert_one_line_error(rc, err, str(docs), "not made by `ai4m report`")
    assert [p.name for p in docs.iterdir()] == ["index.html"]
    assert (docs / "index.html").read_text() == "<p>my homepage</p>"


@pytest.mark.parametrize("argv, needle", [
    (["bench", "eigh", "--batch", "0"], "--batch: expected an integer >= 1"),
    (["bench", "eigh", "--dims", "0,4"], "--dims: expected positive integers"),
    (["bench", "eigh", "--repeats", "-2"], "--repeats"),
    (["bench", "eigh", "--dtype", "float16"], "invalid choice"),
    (["bench", "eigh", "--device", "warp9"], "not a torch device"),
    (["bench", "sqrtm", "--sections", "5"], "no section 5"),
    (["bench", "sqrtm", "--tol", "0"], "--tol: expected a number > 0"),
    (["bench", "coverage", "--frames", "-1"], "--frames"),
    (["bench", "nothing"], "invalid choice"),
    (["bench"], "required"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_command_lines(capsys, argv, needle):
    rc, _, err = run_cli(capsys, *argv)
    assert_one_line_error(rc, err, needle, status=2)


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(DataError, match="no frame folders"):
        (tmp_path / "empty").mkdir()
        main(["coverage", str(tmp_path / "empty"), "--out", str(tmp_path / "o.nc"), "--debug"])


def test_help_is_not_an_error(capsys):
    assert main(["--help"]) == 0
    assert "coverage" in capsys.readouterr().out


def test_help_imports_no_command_module():
    code = ("import sys; from ai4m_kit.cli import main; main(['--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('ai4m_kit.') and m != 'ai4m_kit.cli' "
            "or m in ('torch', 'xarray')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_kill_9_loses_at_most_one_clip_and_resume_equals_a_straight_run(tmp_path):
    root = generate_sample(tmp_path / "sample", profile="smoke", frames=4, progress=False)
    cmd = [sys.executable, "-m", "ai4m_kit.cli", "coverage", str(root), "--no-progress"]
    straight = tmp_path / "straight.nc"
    subprocess.run(cmd + ["--out", str(straight)], check=True, capture_output=True)
    total = cov.load(straight).sizes["clip"]
    out = tmp_path / "killed.nc"
    proc = subprocess.Popen(cmd + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = cov.load(out).sizes["clip"]
    assert 1 <= saved <= total
    subprocess.run(cmd + ["--out", str(out)], check=True, capture_output=True)
    assert cov.load(out).identical(cov.load(straight))


def test_a_corpus_made_before_ownership_records_is_recognised_only_when_pure(tmp_path, capsys):
    root = generate_sample(tmp_path / "old", profile="smoke", frames=2, progress=False)
    (root / OWNER_FILE).unlink()  # as an earlier version left it
    assert run_cli(capsys, "sample", root, "--profile", "smoke", "--frames", "3", "--force")[0] == 0
    (root / OWNER_FILE).unlink()
    (root / "people_astronaut" / "my_cut.mov").write_bytes(b"the user's")
    before = tree_digest(root)
    rc, _, err = run_cli(capsys, "sample", root, "--profile", "smoke", "--frames", "2", "--force")
    assert_one_line_error(rc, err, "not made by `ai4m sample`")
    assert tree_digest(root) == before


def test_a_bad_clip_after_good_ones_keeps_their_results_and_says_so(tmp_path, capsys):
    root = tmp_path / "c"
    make_clip(root, "a_good", 1)
    make_clip(root, "b_broken", 2)
    bad = root / "b_broken" / "4k" / "frame_0002.png"
    bad.write_bytes(bad.read_bytes()[:50])
    out = tmp_path / "o.nc"
    rc, _, err = run_cli(capsys, "coverage", root, "--out", out, "--no-progress")
    assert_one_line_error(rc, err, "frame_0002.png", "finished clips are saved", "--skip-bad")
    assert [str(c) for c in cov.load(out)["clip"].values] == ["a_good/4k", "a_good/1080p"]


def test_temporary_files_of_killed_writers_are_cleaned_up_only_when_ours(tmp_path):
    from ai4m_kit.files import write_text_atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f".out.nc.{dead.pid}.abc123.tmp"  # as a killed writer leaves it
    live = tmp_path / f".out.nc.{os.getpid()}.xyz.tmp"  # a writer still running (this process)
    theirs = tmp_path / ".out.nc.notes.tmp"
    for p in (orphan, live, theirs):
        p.write_text("x")
    write_text_atomic(tmp_path / "out.nc", "data")
    assert not orphan.exists() and live.exists() and theirs.exists()
    assert (tmp_path / "out.nc").read_text() == "data"


def test_atomic_writes_get_a_normal_file_mode(tmp_path):
    import os
    import stat

    from ai4m_kit.files import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644
