"""The ``--arch`` notation: items, defaults, shapes, and one-line errors naming the item."""

import pytest

from hwsim.errors import InputError
from hwsim.training.arch import Conv, Dense, Pool, arch_text, avg_pool_threshold, parse_arch, plan_arch


def test_paper_notation_parses_to_items_with_defaults():
    assert parse_arch("16C5-P2-32C5-AP2-10") == (
        Conv(16, 5, 1, 2), Pool("max", 2), Conv(32, 5, 1, 2), Pool("avg", 2), Dense(10))
    # stride and padding written out, lower case, MP spelled out, dense hidden layer
    assert parse_arch("8c3s2p0-mp3-128-10") == (Conv(8, 3, 2, 0), Pool("max", 3), Dense(128), Dense(10))
    # stride without padding keeps the default padding (k - 1) // 2
    assert parse_arch("4C5s2-10")[0] == Conv(4, 5, 2, 2)
    assert parse_arch("6C3p0-10") == (Conv(6, 3, 1, 0), Dense(10))
    # an even kernel: 'same' padding rounds down, (4 - 1) // 2 = 1
    assert parse_arch("6C4-10")[0] == Conv(6, 4, 1, 1)
    assert parse_arch("64-10") == (Dense(64), Dense(10))


def test_canonical_text_round_trips():
    for text in ("16C5-MP2-32C5-MP2-10", "8C3s2p0-AP2-100-10", "4C5s2p2-10"):
        assert arch_text(parse_arch(text)) == text
    assert arch_text(parse_arch("16C5-P2-10")) == "16C5-MP2-10"


@pytest.mark.parametrize("text, message", [
    ("", "empty; expected items separated by '-'"),
    ("16C5--10", "item 2 is empty"),
    ("16C5-X2-10", "item 2 'X2' is not a layer; allowed items: NCk[sS][pP]"),
    ("16C5-P2", "the last item 'P2' must be the output layer"),
    ("16C5-32C5", "the last item '32C5' must be the output layer"),
    ("16-C5-10", "item 2 'C5' is not a layer"),
    ("64-16C3-10", "item 2 '16C3' follows a dense layer"),
    ("0C3-10", "item 1 '0C3': channels 0, allowed 1..4096"),
    ("4C0-10", "item 1 '4C0': kernel 0, allowed 1..64"),
    ("4C3s0-10", "item 1 '4C3s0': stride 0, allowed 1..64"),
    ("4C3p3-10", "item 1 '4C3p3': padding 3, allowed 0..2"),
    ("4C3-P0-10", "item 2 'P0': pooling window 0, allowed 1..64"),
    ("4C3-0", "item 2 '0': neurons 0, allowed 1..4096"),
])
def test_bad_notation_names_the_item(text, message):
    with pytest.raises(InputError, match="^--arch ") as err:
        parse_arch(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_plan_shapes_follow_the_pytorch_formulas():
    plan = plan_arch(parse_arch("16C5-MP2-32C5s2p1-AP3-20-10"), (28, 28), 10)
    # 28 'same' -> 28; pool 2 -> 14; (14 + 2 - 5) // 2 + 1 = 6; pool 3 -> 2; dense 20; output 10
    assert [layer.out_shape for layer in plan] == [(16, 28, 28), (16, 14, 14), (32, 6, 6), (32, 2, 2), (20,), (10,)]
    assert [layer.in_shape for layer in plan][:3] == [(1, 28, 28), (16, 28, 28), (16, 14, 14)]
    assert [layer.n_out for layer in plan] == [12544, 3136, 1152, 128, 20, 10]
    assert [layer.fan_in for layer in plan] == [25, 4, 16 * 25, 9, 128, 20]
    assert [layer.trainable for layer in plan] == [True, False, True, False, True, True]
    # pooling drops the rows and columns that do not fill a window: 7 // 2 = 3
    assert plan_arch(parse_arch("2C3-P2-P2-10"), (14, 14), 10)[2].out_shape == (2, 3, 3)


def test_plan_errors():
    with pytest.raises(InputError, match=r"the output layer has 7 neurons but the dataset has 10 classes; end the "
                                         r"notation with -10"):
        plan_arch(parse_arch("4C3-7"), (8, 8), 10)
    with pytest.raises(InputError, match=r"item 2 'MP4': the 4x4 window does not fit the 2x2 input"):
        plan_arch(parse_arch("4C3s4p0-MP4-10"), (8, 8), 10)
    with pytest.raises(InputError, match=r"item 1 '4C9s1p0': its 9x9 kernel \(padding 0\) does not fit the 8x8"):
        plan_arch(parse_arch("4C9p0-10"), (8, 8), 10)


def test_average_pooling_threshold_is_half_the_window():
    assert [avg_pool_threshold(k) for k in (1, 2, 3, 4)] == [1, 2, 5, 8]
