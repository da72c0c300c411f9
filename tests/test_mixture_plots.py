"""scaling.mixture_plots: predicted vs actual, the segment between two mixtures, the ternary map."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import scaling  # noqa: E402
from scaling.mixture_plots import (plot_mixture_fit, plot_mixture_segment, plot_mixture_ternary,  # noqa: E402
                                   target_label)
from test_mixture_laws import synthetic  # noqa: E402
from test_mixture_plan import DOM3, additive3, known_fit  # noqa: E402


@pytest.fixture(scope="module")
def ye_fit():
    return scaling.fit("mixture-ye", synthetic("mixture-ye", 40, 2e-3, 12), target="val")


def test_predicted_vs_actual_with_held_out_rows(ye_fit):
    held = synthetic("mixture-ye", 10, 2e-3, 13)
    fig = plot_mixture_fit(ye_fit, others={"held-out": held})
    ax = fig.axes[0]
    assert len(ax.containers) == 2 and "actual loss on val (nats / token)" == ax.get_xlabel()
    x, y = ax.lines[0].get_data()           # first errorbar: the fitted mixtures
    np.testing.assert_allclose(x, ye_fit.data.loss)
    np.testing.assert_allclose(y, ye_fit.predict(ye_fit.data).loss_pred)
    plt.close(fig)


def test_a_weighted_target_gets_a_short_axis_label():
    runs = synthetic("mixture-ye", 40, 2e-3, 12)
    runs = pd.concat([runs, runs.assign(dataset="b", loss=runs.loss * 1.05), runs.assign(dataset="c", loss=runs.loss * 0.95)],
                     ignore_index=True)
    fit = scaling.fit("mixture-ye", runs, target={"val": 0.5, "b": 0.3, "c": 0.2})
    fig = plot_mixture_fit(fit)
    assert fig.axes[0].get_xlabel() == "actual weighted loss over 3 datasets (nats / token)"
    plt.close(fig)
    assert target_label({"val": 1.0, "b": 0.0}) == "loss on val" and target_label(None) == "loss"


def test_segment_between_two_mixtures_has_the_predicted_curve_and_its_minimum():
    fit = additive3()
    a, b = {"web": 1.0}, {"code": 0.5, "books": 0.5}
    fig = plot_mixture_segment(fit, a, b, params=4e8, tokens=8e9, points=51)
    s, loss = fig.axes[0].lines[0].get_data()
    rows = {"mix.web": 1 - s, "mix.code": s / 2, "mix.books": s / 2, "params": 4e8 * np.ones(51), "tokens": 8e9 * np.ones(51)}
    np.testing.assert_allclose(loss, fit.point_loss(rows))
    assert fig.axes[0].lines[1].get_data()[1][0] == loss.min()
    plt.close(fig)
    with pytest.raises(scaling.InputError, match="unknown domain"):
        plot_mixture_segment(fit, {"news": 1.0}, b, params=4e8, tokens=8e9)


def test_ternary_map_marks_the_runs_and_the_optimum(ye_fit):
    fig = plot_mixture_ternary(ye_fit)
    ax = fig.axes[0]
    assert ax.name == "ternary" and len(ax.collections) == 3     # heat map, runs, optimum
    optimum = ax.collections[2].get_offsets()
    assert len(optimum) == 1
    plt.close(fig)
    five = known_fit("mixture-ye", DOM3 + ("math", "wiki"), (), {"c": 2.0, "k": 1.0, "t_code": 0.1, "t_books": 0.2,
                                                                  "t_math": 0.3, "t_wiki": 0.4})
    with pytest.raises(scaling.InputError, match="three domains"):
        plot_mixture_ternary(five)
