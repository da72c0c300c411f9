"""Learning-rate schedules: exact values at known steps, round trips, errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ladders.schedules import (WSD, Cosine, lr_array, parse_schedule, schedule_from_dict, schedule_to_dict,
                               schedule_to_string)


def test_constant_with_warmup():
    lr = lr_array({"kind": "constant", "peak": 1.0, "warmup": 4}, 10)
    np.testing.assert_allclose(lr, [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 1])


def test_cosine_to_floor():
    lr = lr_array(Cosine(peak=1.0, warmup=0, floor=0.1), 4)
    p = np.arange(1, 5) / 4
    np.testing.assert_allclose(lr, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * p)))
    assert lr[-1] == pytest.approx(0.1)


def test_linear_after_warmup():
    lr = lr_array("linear:peak=2,warmup=2,floor=0", 6)
    np.testing.assert_allclose(lr, [1, 2, 1.5, 1, 0.5, 0])


@pytest.mark.parametrize("shape,expected_mid", [
    ("linear", 0.5), ("cosine", 0.5), ("sqrt", 1 - math.sqrt(0.5)), ("exponential", 0.1),
])
def test_wsd_decay_shapes(shape, expected_mid):
    floor = 0.01 if shape == "exponential" else 0.0
    lr = lr_array(WSD(peak=1.0, warmup=0, decay_fraction=0.2, decay_shape=shape, floor=floor), 100)
    assert np.all(lr[:80] == 1.0)
    assert lr[89] == pytest.approx(expected_mid if shape == "exponential" else floor + (1 - floor) * expected_mid)
    assert lr[-1] == pytest.approx(floor)
    assert np.all(np.diff(lr[80:]) < 0)


def test_multistep_and_fractional_milestones():
    lr = lr_array({"kind": "multistep", "peak": 1.0, "milestones": [0.5, 8], "gamma": 0.5}, 10)
    np.testing.assert_allclose(lr, [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])


def test_fractional_warmup():
    lr = lr_array({"kind": "cosine", "peak": 1.0, "warmup": 0.1}, 100)
    assert lr[9] == 1.0 and lr[0] == pytest.approx(0.1)


@pytest.mark.parametrize("text", [
    "wsd:peak=0.003,warmup=100,decay_fraction=0.2,decay_shape=linear,floor=0.0",
    "multistep:peak=0.001,warmup=0,milestones=0.5;0.75,gamma=0.3",
    "cosine:peak=0.001,warmup=0.05,floor=0.0001",
    "rewarm:peak=0.003,warmup=20,decay_fraction=0.2,decay_shape=cosine,floor=0.0,rewarm_fraction=0.3,"
    "rewarm_peak=0.001,rewarm_warmup=0.1",
])
def test_round_trips(text):
    s = parse_schedule(text)
    assert parse_schedule(schedule_to_string(s)) == s
    assert schedule_from_dict(schedule_to_dict(s)) == s
    np.testing.assert_array_equal(lr_array(s, 500), lr_array(schedule_to_dict(s), 500))


def test_rewarm_is_a_wsd_then_a_second_cycle():
    """The classic FP-then-QAT schedule: WSD over T1 = T - round(f T), re-warmup, decay."""
    lr = lr_array({"kind": "rewarm", "peak": 1.0, "warmup": 2, "decay_fraction": 0.5, "rewarm_fraction": 0.4,
                   "rewarm_peak": 0.5, "rewarm_warmup": 2}, 10)
    np.testing.assert_allclose(lr, [0.5, 1, 1, 2 / 3, 1 / 3, 0, 0.25, 0.5, 0.25, 0])
    np.testing.assert_array_equal(lr[:6], lr_array("wsd:peak=1,warmup=2,decay_fraction=0.5", 6))
    assert parse_schedule("rewarm:peak=0.1").rewarm_peak == 0.1          # defaults to the peak


@pytest.mark.parametrize("d,match", [
    ({"kind": "nope", "peak": 1}, "unknown schedule kind"),
    ({"kind": "rewarm", "peak": 1, "rewarm_fraction": 1.5}, "rewarm_fraction"),
    ({"kind": "rewarm", "peak": 1, "rewarm_peak": -1}, "rewarm_peak"),
    ({"kind": "cosine"}, "peak"),
    ({"kind": "cosine", "peak": 1, "decay": 2}, "unknown key"),
    ({"kind": "wsd", "peak": 1, "decay_shape": "exponential"}, "floor > 0"),
    ({"kind": "cosine", "peak": -1}, "positive"),
    ({"kind": "cosine", "peak": 1, "floor": 2}, "floor"),
    ({"kind": "cosine", "peak": "abc"}, "peak='abc' is not a number"),
    ({"kind": "cosine", "peak": True}, "peak=True is not a number"),
    ({"kind": "cosine", "peak": 0}, "peak must be a positive"),
    ({"kind": "cosine", "peak": 1, "floor": "abc"}, "floor='abc' is not a number"),
    ({"kind": "cosine", "peak": 1, "warmup": "abc"}, "warmup='abc' is not a number"),
    ({"kind": "cosine", "peak": 1, "warmup": float("nan")}, "warmup=nan is not a finite number"),
    ({"kind": "cosine", "peak": 1, "warmup": 1.5}, "warmup=1.5 must be a whole number"),
    ({"kind": "wsd", "peak": 1, "decay_fraction": "abc"}, "decay_fraction='abc' is not a number"),
    ({"kind": "multistep", "peak": 1, "milestones": ["abc"]}, "milestones='abc' is not a number"),
    ({"kind": "multistep", "peak": 1, "milestones": [-3]}, "milestones=-3 must be a whole number"),
    ({"kind": "multistep", "peak": 1, "gamma": -1}, "gamma must be >= 0"),
    ({"kind": "rewarm", "peak": 1, "rewarm_warmup": "x"}, "rewarm_warmup='x' is not a number"),
])
def test_bad_schedules(d, match):
    with pytest.raises(ValueError, match=match):
        schedule_from_dict(d)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["constant", "cosine", "linear", "wsd"]), total=st.integers(1, 400),
       warmup=st.integers(0, 50), peak=st.floats(1e-5, 1.0), frac=st.floats(0, 1))
def test_schedule_properties(kind, total, warmup, peak, frac):
    d = {"kind": kind, "peak": peak, "warmup": warmup % total}    # shorter than the run (else an error)
    if kind == "wsd":
        d["decay_fraction"] = frac
    lr = lr_array(d, total)
    assert lr.shape == (total,)
    assert np.all(np.isfinite(lr)) and np.all(lr >= 0) and np.all(lr <= peak * (1 + 1e-12))
    if kind in ("cosine", "linear") and total > warmup:
        assert lr[-1] == pytest.approx(0.0, abs=1e-12)


def test_schedules_import_without_jax():
    import subprocess
    import sys
    code = "import sys, ladders.schedules; assert 'jax' not in sys.modules and 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scale_rates_scales_absolute_rates_only():
    from ladders.schedules import scale_rates
    s = scale_rates("rewarm:peak=0.003,warmup=10,decay_fraction=0.2,floor=0.0003,rewarm_fraction=0.3,rewarm_peak=0.002", 0.5)
    assert (s["peak"], s["floor"], s["rewarm_peak"], s["decay_fraction"]) == (0.0015, 0.00015, 0.001, 0.2)
    assert scale_rates("multistep:peak=0.001,milestones=100,gamma=0.3", 2.0)["gamma"] == 0.3


@pytest.mark.parametrize("text,match", [
    ("cosine:peak=abc", "peak='abc' is not a number"),
    ("cosine:peak=1e-3,floor=abc", "floor='abc' is not a number"),
    ("cosine:peak=1e-3,warmup=abc", "warmup='abc' is not a number"),
    ("wsd:peak=1e-3,decay_fraction=abc", "decay_fraction='abc' is not a number"),
    ("multistep:peak=1e-3,milestones=abc", "milestones='abc' is not a number"),
    ("cosine:peak=1e-3,peak=2e-3", "key 'peak' is given more than once"),
    ("cosine:peak=0", "peak must be a positive"),
])
def test_bad_schedule_strings_are_value_errors_naming_the_key(text, match):
    with pytest.raises(ValueError, match=match):
        parse_schedule(text)


def test_schedule_objects_are_checked_before_use():
    """A schedule built directly (the planner's candidates) is validated like a dict: peak 0 was a
    ZeroDivisionError in the exponential decay."""
    with pytest.raises(ValueError, match="peak must be a positive"):
        lr_array(WSD(0.0, 0, 0.2, "exponential", 0.0), 100)


def test_a_warmup_in_updates_must_be_shorter_than_the_run():
    with pytest.raises(ValueError, match=r"warmup=50000 updates is not shorter than the run \(1000 updates\)"):
        lr_array("cosine:peak=1e-3,warmup=50000", 1000)
    with pytest.raises(ValueError, match="warmup=1000 updates"):
        lr_array("cosine:peak=1e-3,warmup=1000", 1000)
    assert lr_array("cosine:peak=1e-3,warmup=999", 1000)[998] == pytest.approx(1e-3)
    assert len(lr_array("cosine:peak=1e-3,warmup=0.99", 1)) == 1      # a fraction fits any run
    assert len(lr_array("cosine:peak=1e-3,warmup=10", 0)) == 0
