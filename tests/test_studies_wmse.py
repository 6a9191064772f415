"""Study 05 end to end at a tiny size: shapes, the Table 7 summary, the collapse rule and a
conclusion that states reproduced / not reproduced for each finding."""

import numpy as np
import pytest

from ai4m_kit.studies import wmse as study
from ai4m_kit.train.ssl import SSLConfig

TINY = SSLConfig(width=4, hidden=32, emb=8, batch=64, w_size=32, steps=8, warmup=2)


@pytest.fixture(autouse=True)
def cache_here(tmp_path, monkeypatch):
    monkeypatch.setenv("AI4M_CACHE", str(tmp_path / "cache"))


def test_run_table_and_conclusion():
    ds = study.run("smoke", dataset="digits", methods=("random", "nowhite", "wmse2", "wmse4"), seeds=(0,),
                   ssl_config=TINY, progress=False)
    assert ds.accuracy.shape == (4, 1, 2) and np.isfinite(ds.accuracy).all()
    assert ds.loss.sel(algorithm="random").isnull().all() and np.isfinite(ds.loss.sel(algorithm="wmse2")).all()
    assert ds.attrs["embedding_dim"] == 8 and ds.sizes["variant"] == 2
    table = study.table7(ds)
    assert list(table.index) == ["random", "nowhite", "wmse2", "wmse4"]
    text = study.conclusion(ds)
    for finding in ("every SSL method above it", "W-MSE 4 best", "Without whitening", "Table 10"):
        assert finding in text
    assert text.count("reproduced") >= 4
    again = study.run("smoke", dataset="digits", methods=("random", "nowhite", "wmse2", "wmse4"), seeds=(0,),
                      ssl_config=TINY, progress=False)  # from the result cache
    assert again.identical(ds)


def test_collapse_rule_and_unknown_inputs():
    ds = study.run("smoke", dataset="digits", methods=("nowhite",), seeds=(0,), ssl_config=TINY, progress=False)
    ds["test_mean_std"][:] = 0.0
    assert study.collapsed(ds, "nowhite")
    ds["test_mean_std"][:] = 1.0
    ds["test_effective_rank"][:] = 5.0
    assert not study.collapsed(ds, "nowhite")
    with pytest.raises(ValueError, match="unknown"):
        study.run("smoke", dataset="digits", methods=("mocov3",), ssl_config=TINY, progress=False)
    with pytest.raises(FileNotFoundError, match="neither an offline set"):
        study.run("smoke", dataset="no-such-set", ssl_config=TINY, progress=False)
