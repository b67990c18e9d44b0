"""`vae-hub temperature`: the sweep that chooses generate_digit's default temperature."""

from __future__ import annotations

from vae_hub import VAE
from vae_hub.cli import main
from vae_hub.cli.temperature import format_sweep, highest_reaching
from vae_hub.evaluation.judge import load_judge
from vae_hub.evaluation.metrics import digit_accuracy


def test_highest_reaching_picks_the_highest_temperature_at_the_floor():
    measured = {0.6: 1.0, 0.7: 0.994, 0.8: 0.995, 0.9: 0.994, 1.0: 0.98}
    assert highest_reaching(measured, 0.995) == 0.8  # not the last before the first miss
    assert highest_reaching(measured, 0.999) == 0.6
    assert highest_reaching(measured, 1.0) == 0.6
    assert highest_reaching({0.8: 0.9}, 0.995) is None


def test_format_sweep_is_one_column_per_temperature_in_order():
    table = format_sweep({1.0: 0.98, 0.5: 0.9996})
    assert table.splitlines() == [
        "| temperature | 1 | 0.5 |",
        "| --- | --- | --- |",
        "| digit-generation accuracy | 98.00% | 99.96% |",
    ]


def test_sweep_reports_digit_accuracy_and_the_choice(trained_model_dir, capsys):
    args = ["temperature", str(trained_model_dir), "--per-digit", "6", "--seed", "3"]
    args += ["--device", "cpu"]
    code = main([*args, "--temperatures", "0.5", "1.0", "0.5", "--at-least", "0"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "| temperature | 0.5 | 1 |"  # a repeated temperature is measured once
    model, judge = VAE.from_pretrained(trained_model_dir), load_judge()
    expected = [
        digit_accuracy(model, judge, per_digit=6, seed=3, temperature=t) for t in (0.5, 1.0)
    ]
    assert out[2] == f"| digit-generation accuracy | {expected[0]:.2%} | {expected[1]:.2%} |"
    # every accuracy reaches 0%, so the highest temperature measured is the choice
    assert (
        out[3]
        == "highest temperature reaching 0%: 1 (generate_digit's default for this model: 0.5)"
    )


def test_sweep_says_when_no_temperature_reaches_the_floor(trained_model_dir, capsys):
    args = ["temperature", str(trained_model_dir), "--per-digit", "20", "--temperatures", "1"]
    assert main([*args, "--at-least", "100"]) == 0
    out = capsys.readouterr().out.splitlines()
    model, judge = VAE.from_pretrained(trained_model_dir), load_judge()
    assert digit_accuracy(model, judge, per_digit=20, seed=1, temperature=1.0) < 1.0
    assert out[-1] == (
        "no temperature measured reaches 100% (generate_digit's default for this model: 0.5)"
    )


def test_sweep_rejects_a_bad_floor_in_one_line(capsys):
    assert main(["temperature", "--at-least", "101"]) == 2
    err = capsys.readouterr().err
    assert "--at-least" in err and "at most 100" in err and "Traceback" not in err
