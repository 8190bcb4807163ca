"""``townhall staffing``: JSON and table output, and usage errors for bad options."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from townhall.cli import app

runner = CliRunner()
TEXTBOOK = [
    "staffing",
    "--arrivals-per-hour",
    "200",
    "--handle-minutes",
    "3",
    "--target-percent",
    "80",
    "--within-minutes",
    str(20 / 60),
]


def test_json_output_has_the_contracted_keys() -> None:
    result = runner.invoke(app, [*TEXTBOOK, "--shrinkage", "0.3", "--json"])

    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"agents", "service_level", "asa_minutes", "occupancy", "fte"} <= set(payload)
    assert payload["agents"] == 14
    assert payload["service_level"] == pytest.approx(0.888, abs=5e-4)
    assert payload["asa_minutes"] * 60 == pytest.approx(7.8, abs=0.05)
    assert payload["occupancy"] == pytest.approx(10 / 14)
    assert payload["fte"] == pytest.approx(20.0)


def test_table_output_for_people() -> None:
    result = runner.invoke(app, TEXTBOOK)

    assert result.exit_code == 0, result.output
    assert "Agents on duty" in result.stdout
    assert "14" in result.stdout
    assert "88.8%" in result.stdout


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--handle-minutes", "0"),
        ("--arrivals-per-hour", "-5"),
        ("--target-percent", "100"),
        ("--within-minutes", "-1"),
        ("--shrinkage", "1.5"),
    ],
)
def test_invalid_option_exits_2_and_names_it(option: str, value: str) -> None:
    arguments = list(TEXTBOOK)
    if option in arguments:
        arguments[arguments.index(option) + 1] = value
    else:
        arguments += [option, value]

    result = runner.invoke(app, [*arguments, "--json"])

    assert result.exit_code == 2
    assert option in result.output


def test_missing_option_is_a_usage_error() -> None:
    result = runner.invoke(app, ["staffing", "--arrivals-per-hour", "10"])

    assert result.exit_code == 2
