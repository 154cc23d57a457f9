"""Held-out metrics by hand."""

import pytest

from qstar_cli.value.metrics import calibration, mse, roc_auc


def test_roc_auc_by_hand():
    # pairs (pos, neg): (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, 0.1) win, (0.8, 0.4) win -> 3/4
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [True, False]) == pytest.approx(0.5)  # a tie counts half
    assert roc_auc([0.9, 0.1, 0.5], [True, False, True]) == pytest.approx(1.0)
    assert roc_auc([0.3, 0.2], [True, True]) is None


def test_mse_and_calibration():
    assert mse([0.5, 1.0], [0.0, 1.0]) == pytest.approx(0.125)
    table = calibration([0.05, 0.07, 0.95, 1.0], [0.0, 1.0, 1.0, 1.0])
    assert table == [
        {"bin": "[0.0, 0.1)", "count": 2, "mean_pred": pytest.approx(0.06), "mean_label": 0.5},
        {"bin": "[0.9, 1.0)", "count": 2, "mean_pred": pytest.approx(0.975), "mean_label": 1.0},
    ]
