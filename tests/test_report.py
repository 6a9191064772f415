"""ai4m report: executes notebooks, writes one page each and an index; offline assets or a warning."""

import nbformat
import pytest

from ai4m_kit import report
from ai4m_kit.cli import main as cli_main


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A tiny study"), nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)


@pytest.fixture
def static_ready(tmp_path):
    static = tmp_path / "out" / "_static"
    static.mkdir(parents=True)
    for *_, name in report.STATIC_ASSETS:
        (static / name).write_text("// asset")
    (tmp_path / "out" / report.OWNER_FILE).write_text("made by ai4m report\n")
    return tmp_path / "out"


def test_report_pages_index_and_failures(tmp_path, static_ready, monkeypatch):
    monkeypatch.delenv("AI4M_PROFILE", raising=False)
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_ok.ipynb", "import os, ipywidgets\nprint('profile', os.environ['AI4M_PROFILE'])\nipywidgets.IntSlider(value=3)")
    _notebook(nbs / "02_broken.ipynb", "raise RuntimeError('boom')")
    _notebook(nbs / "scratch.ipynb", "print('not numbered: not in the report')")
    assert cli_main(["report", "--notebooks", str(nbs), "--out", str(static_ready), "--profile", "smoke"]) == 1
    page = (static_ready / "01_ok.html").read_text()
    assert "profile smoke" in page and "_static/require.min.js" in page and "_static/embed-amd.js" in page
    index = (static_ready / "index.html").read_text()
    assert 'href="01_ok.html"' in index and "A tiny study" in index
    assert "FAILED" in index and "boom" in index
    assert not (static_ready / "scratch.html").exists()


def test_without_npm_pages_fall_back_to_cdn_with_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report.shutil, "which", lambda name: None)
    assert report.fetch_static_assets(tmp_path / "_static") is False
    assert "warning" in capsys.readouterr().err


def test_no_notebooks_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no numbered notebooks"):
        report.build_report(tmp_path, tmp_path / "out", "smoke")


def test_empty_display_outputs_are_dropped(tmp_path, recwarn):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plot")
    cell.outputs = [nbformat.v4.new_output("display_data", data={}),
                    nbformat.v4.new_output("display_data", data={"text/plain": "a plot"}),
                    nbformat.v4.new_output("stream", text="printed\n")]
    nb.cells = [cell]
    report.export_html(nb, tmp_path / "page.html", offline_assets=False)
    assert [o.output_type for o in nb.cells[0].outputs] == ["display_data", "stream"]
    page = (tmp_path / "page.html").read_text()
    assert "a plot" in page and "printed" in page
    assert not [w for w in recwarn if "not able to be represented" in str(w.message)]
