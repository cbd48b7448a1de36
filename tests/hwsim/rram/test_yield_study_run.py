"""The whole yield study as one call (hwsim.rram.yield_study.run_yield_study): its numbers are those of the
golden RRAM model run by hand on the same instances, with the encoder seeds and the calibration docs/rram.md §4
names; progress reaches the callbacks; bad input is refused."""

import contextlib

import numpy as np
import pytest

from hwsim.encoding import encode
from hwsim.errors import ConfigError, InputError
from hwsim.rram.device import program_chip
from hwsim.rram.engine import calibrate_on_images
from hwsim.rram.golden import simulate_rram
from hwsim.rram.yield_study import YieldStudySettings, run_yield_study, with_rram
from rram_cases import DIGITAL, mapped, rram_chip

VARIED = dict(variation=True, variation_sigma=0.3, array_variation=True, array_sigma=0.2, read_noise=True,
              read_noise_sigma=0.05)
T = 3


@pytest.fixture(scope="module")
def study_case():
    _, prog = mapped(rram_chip(**VARIED), sizes=(40, 24, 6), seed=5, fire_output=False, threshold=12,
                     bias_range=(-2, 2))
    rng = np.random.default_rng(3)
    x_test, x_train = rng.random((16, 40)), rng.random((45, 40))
    y_test, y_train = rng.integers(0, 6, 16), rng.integers(0, 6, 45)
    return prog, x_test, y_test, x_train, y_train


def golden_accuracy(program, seed, scales, rasters, labels) -> float:
    return float((simulate_rram(program_chip(program, seed, adc_scales=scales), rasters).predictions == labels).mean())


def test_study_numbers_are_golden_runs_of_the_same_instances(study_case):
    prog, x_test, y_test, x_train, y_train = study_case
    settings = YieldStudySettings(instances=3, spec=0.2, timesteps=T, seed=4, sigmas=(0.0, 0.5))
    messages, bars, updates = [], [], []

    @contextlib.contextmanager
    def bar(total, desc):
        bars.append((desc, total))
        yield updates.append

    study = run_yield_study(prog, x_test, y_test, x_train, y_train, settings, say=messages.append, bar=bar)

    # by hand: ADC scales from the first min(300, 45 // 3) = 15 training images; test images with encoder seed 1
    scales = calibrate_on_images(prog, x_train[:15], T, "rate")
    rasters = encode(x_test, T, "rate", seed=1)
    assert study.adc_scales == tuple(scales) and study.seeds == (4, 5, 6)
    assert study.accuracies.tolist() == [golden_accuracy(prog, s, scales, rasters, y_test) for s in (4, 5, 6)]
    ideal = with_rram(prog, variation=False, array_variation=False, read_noise=False)
    assert study.ideal_accuracy == golden_accuracy(ideal, 0, scales, rasters, y_test)
    # the sweep: the same seeds at each sigma, variation switched on
    at_half = with_rram(prog, variation=True, variation_sigma=0.5)
    assert study.sweep.accuracies[1].tolist() == [golden_accuracy(at_half, s, scales, rasters, y_test)
                                                  for s in (4, 5, 6)]
    assert study.summary["out_of_spec"] == sum(a < 0.2 for a in study.accuracies.tolist())
    assert study.energy.n_images == 16 and study.tuning is None and study.outcomes == ()

    data = study.to_dict(network="net", sizes=[40, 24, 6], dataset="random")
    assert list(data)[:6] == ["format", "version", "network", "sizes", "chip", "dataset"]
    assert data["seeds"] == [4, 6] and data["accuracies"] == study.accuracies.tolist()
    assert data["chip"]["rram"]["variation_sigma"] == 0.3 and data["instances_tuned"] == []
    # progress: one update per finished instance, on bars of the right size
    assert bars == [("instances", 3), ("sigma sweep", 6)] and sum(updates) == 9
    assert messages[0] == "calibrating ADC scales on 15 training images (ideal chip)"


def test_study_refuses_too_few_training_images_and_digital_programs(study_case):
    prog, x_test, y_test, x_train, y_train = study_case
    # 45 training images: 15 calibrate, so 10 + 21 signature and tuning images need 46
    tuned = YieldStudySettings(instances=2, spec=0.5, timesteps=T, tune=True, signature_images=10, tuning_images=21)
    with pytest.raises(InputError, match="needs 46 training images"):
        run_yield_study(prog, x_test, y_test, x_train, y_train, tuned)
    _, digital = mapped(DIGITAL, sizes=(40, 24, 6), seed=5)
    with pytest.raises(ConfigError, match="rram"):
        run_yield_study(digital, x_test, y_test, x_train, y_train, YieldStudySettings(2, 0.5, T))
