"""scaling.downstream_plots: the loss-loss line, the sigmoid through checkpoints, the chained prediction."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import scaling  # noqa: E402
from scaling.downstream_plots import plot_chain, plot_loss2loss, plot_sigmoid  # noqa: E402
from test_loss2loss import checkpoints  # noqa: E402
from test_task import TARGET, ladder  # noqa: E402


@pytest.fixture(scope="module")
def task_fit():
    return scaling.fit("task", ladder(7), task="hellaswag")


def test_loss2loss_line_band_and_other_points():
    fit = scaling.fit("loss2loss", checkpoints(0.002, seed=5), x="train", y="c4", shifts={"E_x": 1.8, "E_y": 2.2})
    fig = plot_loss2loss(fit, others={"other models": ([2.5, 3.0], [3.0, 3.4])})
    ax = fig.axes[0]
    assert len(ax.collections) >= 3 and "loss on train" in ax.get_xlabel()
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(y, fit.point_loss({"loss": x}))
    plt.close(fig)
    with pytest.raises(scaling.InputError):
        plot_loss2loss(scaling.fit("sigmoid", pd.DataFrame({"loss": np.linspace(1, 3, 9), "accuracy": np.linspace(0.7, 0.3, 9)})))


def test_sigmoid_and_chain_figures(task_fit, tmp_path):
    fig = plot_sigmoid(task_fit)
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(y, task_fit.stages[1].point_loss({"loss": x}))
    assert ax.get_ylabel() == "accuracy"
    plt.close(fig)
    fig = plot_chain(task_fit, TARGET, held_out={**TARGET, "accuracy": [0.73]})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "accuracy"
    C, acc = ax.lines[0].get_data()
    assert C[-1] == pytest.approx(6 * 7e9 * 1.4e12)
    assert acc[-1] == pytest.approx(task_fit.predict(TARGET)["accuracy_pred"][0], rel=1e-9)
    fig.savefig(tmp_path / "chain.png")
    plt.close(fig)


def test_error_law_figure_draws_error_against_loss():
    loss = np.linspace(2.3, 5.5, 12)
    err = 0.85 - 2.5 * np.exp(-0.7 * loss)
    rows = [dict(run=f"r{i}", params=1e8 * (i + 1), tokens=2e9, dataset="val", loss=l) for i, l in enumerate(loss)]
    rows += [dict(run=f"r{i}", params=1e8 * (i + 1), tokens=2e9, dataset="avg", accuracy=1 - e) for i, e in enumerate(err)]
    fit = scaling.fit("error", pd.DataFrame(rows), x="val", task="avg")
    fig = scaling.plot(fit)                      # the error law's figure: plot_sigmoid draws it too
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(y, fit.point_loss({"loss": x}))
    assert ax.get_ylabel() == "top-1 error" and ax.get_xlabel() == "loss on val (nats/token)"
    assert ax.get_title().startswith("error law") and "step 2" not in ax.get_title()   # a fit of its own, not a chain's step
    np.testing.assert_allclose(np.sort(ax.collections[-1].get_offsets()[:, 1]), np.sort(err), rtol=1e-9)
    plt.close(fig)
