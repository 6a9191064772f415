"""``ai4m report``: execute every notebook and write an offline HTML report.

Each notebook is executed in its own folder with ``AI4M_PROFILE`` set, its widget state stored, and
exported to ``<out>/<name>.html``; ``<out>/index.html`` links them with status and run time.
Offline: BokehJS is inlined by the notebooks (``ai4m_kit.viz.setup``); require.js and the
ipywidgets HTML renderer are served from ``<out>/_static``, taken at build time from npm packages
(``npm pack``). If that is impossible the pages fall back to CDN links and a warning is printed.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from .files import atomic_path, write_text_atomic

OWNER_FILE = ".ai4m-report"  # marks a folder `ai4m report` made: the only kind it writes into

# npm package, version, file inside the package tarball, name under _static/
STATIC_ASSETS = (
    ("requirejs", "2.3.7", "package/require.js", "require.min.js"),
    ("@jupyter-widgets/html-manager", "1.0.15", "package/dist/embed-amd.js", "embed-amd.js"),
)


def fetch_static_assets(static_dir: Path) -> bool:
    """Put require.js and the widget renderer into ``static_dir`` with ``npm pack``; True on success.

    Files already present are kept, so a report can be rebuilt offline once they were fetched.
    """
    static_dir.mkdir(parents=True, exist_ok=True)
    if all((static_dir / name).is_file() for *_, name in STATIC_ASSETS):
        return True
    npm = shutil.which("npm")
    if npm is None:
        print("warning: npm not found; report pages will load require.js and widgets from a CDN", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as tmp:
        for package, version, member, name in STATIC_ASSETS:
            if (static_dir / name).is_file():
                continue
            try:
                out = subprocess.run([npm, "pack", f"{package}@{version}", "--silent"], cwd=tmp, check=True,
                                     capture_output=True, text=True, timeout=180)
                tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
                with tarfile.open(tarball) as tar:
                    data = tar.extractfile(member)
                    if data is None:
                        raise FileNotFoundError(member)
                    with atomic_path(static_dir / name) as part:
                        part.write_bytes(data.read())
            except (subprocess.SubprocessError, OSError, KeyError, IndexError) as err:
                print(f"warning: could not fetch {package}@{version} from npm ({err}); "
                      "report pages will load it from a CDN", file=sys.stderr)
                return False
    return True


def execute_notebook(path: Path, profile: str, timeout: int = 1800):
    """Execute a notebook in its own folder with ``AI4M_PROFILE=profile``; returns (nb, error or None)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("AI4M_PROFILE")
    os.environ["AI4M_PROFILE"] = profile
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
        return nb, None
    except CellExecutionError as err:
        return nb, str(err).strip().splitlines()[-1] if str(err).strip() else repr(err)
    finally:
        if env_before is None:
            os.environ.pop("AI4M_PROFILE", None)
        else:
            os.environ["AI4M_PROFILE"] = env_before


def _drop_empty_outputs(nb) -> None:
    """Remove display outputs that carry no data (HoloViews emits one per plot, a placeholder for its
    comm; nbconvert warns "not able to be represented" for each and writes an empty box)."""
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "display_data" or o.get("data")]


def export_html(nb, out_file: Path, offline_assets: bool) -> None:
    from nbconvert import HTMLExporter

    _drop_empty_outputs(nb)
    exporter = HTMLExporter(template_name="lab")
    if offline_assets:
        exporter.require_js_url = "_static/require.min.js"
        exporter.widget_renderer_url = "_static/embed-amd.js"
    body, _ = exporter.from_notebook_node(nb)
    write_text_atomic(out_file, body)


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def select_notebooks(notebooks: Path, only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` in ``notebooks``, those whose name contains one of
    ``only`` if given; a clear error when the folder is missing or nothing matches."""
    if not notebooks.is_dir():
        raise FileNotFoundError(f"{notebooks}: no such notebook folder")
    paths = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError(f"{notebooks}: no numbered notebooks (NN_name.ipynb)")
    if only:
        chosen = [p for p in paths if any(key in p.name for key in only)]
        if not chosen:
            raise ValueError(f"--only {' '.join(only)}: matches no notebook in {notebooks} "
                             f"(have {', '.join(p.stem for p in paths)})")
        paths = chosen
    return paths


def _made_by_us(out: Path) -> bool:
    """True for a folder marked by ``ai4m report`` (or holding an index of an earlier version)."""
    index = out / "index.html"
    return (out / OWNER_FILE).is_file() or (
        index.is_file() and "<title>ai4m-kit report</title>" in index.read_text(errors="replace")[:2000])


def build_report(notebooks: Path, out: Path, profile: str | None, only: list[str] | None = None) -> int:
    """Execute notebooks and write the report; returns the number of notebooks that failed."""
    from .profiles import resolve_profile

    profile = resolve_profile(profile)
    paths = select_notebooks(notebooks, only)
    if out.is_dir() and any(out.iterdir()) and not _made_by_us(out):
        raise ValueError(f"{out}: folder is not empty and was not made by `ai4m report`; give a new or "
                         "empty --out (nothing was written)")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / OWNER_FILE, "made by ai4m report\n")
    offline = fetch_static_assets(out / "_static")
    rows, failures = [], 0
    for path in paths:
        print(f"== {path.name} (profile {profile})", flush=True)
        t0 = time.perf_counter()
        nb, error = execute_notebook(path, profile)
        seconds = time.perf_counter() - t0
        export_html(nb, out / f"{path.stem}.html", offline)
        failures += error is not None
        status = "ok" if error is None else f"FAILED: {error}"
        print(f"   {status} in {seconds:.1f} s", flush=True)
        rows.append((path.stem, _title(nb, path.stem), status, seconds))
    _write_index(out, rows, profile, offline)
    print(f"report: {out / 'index.html'}")
    return failures


def _write_index(out: Path, rows, profile: str, offline: bool) -> None:
    import platform

    import torch

    from . import __version__

    items = "\n".join(
        f'<tr><td><a href="{html.escape(stem)}.html">{html.escape(title)}</a></td>'
        f'<td class="{"ok" if status == "ok" else "bad"}">{html.escape(status)}</td><td>{seconds:.1f} s</td></tr>'
        for stem, title, status, seconds in rows)
    device = "CUDA: " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    note = "" if offline else "<p><b>Warning:</b> widget and require.js assets could not be fetched; pages use a CDN.</p>"
    write_text_atomic(out / "index.html", f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ai4m-kit report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em 1em;text-align:left}}
.ok{{color:#070}}.bad{{color:#b00}}</style></head><body>
<h1>ai4m-kit report</h1>
<p>Every page below was executed on {html.escape(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))} at the
<code>{html.escape(profile)}</code> profile on {html.escape(device)}, Python {platform.python_version()},
torch {torch.__version__}, ai4m-kit {__version__}. Figures are measured in that run.</p>{note}
<table><tr><th>notebook</th><th>status</th><th>run time</th></tr>
{items}
</table></body></html>
""")
