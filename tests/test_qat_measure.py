"""scaling.qat_measure: the qat law measured on the shipped CPU QAT ladder (largest N held out)."""
import numpy as np
import pytest

import scaling
from fitters import qat
from scaling import qat_measure


@pytest.fixture(scope="module")
def rows():
    return scaling.qat_ladder()


def test_ladder_rows_are_final_validation_rows_of_fp_and_one_pipeline(rows):
    t = qat_measure.ladder_rows(rows, "fused")
    assert set(t.run_kind) == {"fp", "qat"} and set(t.dataset) == {"validation"}
    assert set(t.qat_pipeline[t.run_kind == "qat"]) == {"fused"}
    assert not t.run.duplicated().any() and (t.step == t.steps_total).all()
    with pytest.raises(ValueError, match="pipeline"):
        qat_measure.ladder_rows(rows, "neither")


def test_law_on_ladder_holds_out_the_largest_size(rows):
    r = qat_measure.law_on_ladder(rows, "fused")
    n_max = rows.params.max()
    assert r["held_out_params"] == n_max and not np.isclose(r["fit"].data["params"], n_max).any()
    assert r["held_out_runs"] == 72         # 3 bits x 6 fractions x 4 seeds
    opt = r["optima"]
    assert len(opt) == 18 and opt.held_out.sum() == 3
    assert set(opt.f_law_grid) <= set(rows.qat_fraction_target.dropna()) and opt.f_law.between(0, 1).all()
    assert r["f_grid_mae"] == pytest.approx(np.abs(opt.f_law_grid - opt.qat_fraction)[~opt.held_out].mean())
    assert r["closed_form_a"] == pytest.approx(qat.fit_closed_form(opt.tokens_per_byte, opt.qat_fraction)["a"])
    assert 0 <= r["held_out_mae"] < 1 and r["published_a"] == pytest.approx(6.7297)
