"""The colour rules of ``tenants.branding``: WCAG contrast and the suggested passing shade."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tenants.branding import AA, color_problem, contrast, darken_to_pass

HEX = st.integers(0, 0xFFFFFF).map(lambda n: f"#{n:06x}")


def test_contrast_matches_wcag_reference_values():
    """Black on white is 21:1, white on white 1:1, #767676 the lightest AA grey."""
    assert round(contrast("#000000", "#ffffff"), 2) == 21.0
    assert contrast("#ffffff", "#ffffff") == 1.0
    assert contrast("#767676", "#ffffff") >= AA > contrast("#777777", "#ffffff")


@given(HEX)
def test_the_suggested_shade_always_passes_and_is_never_lighter(color):
    """Whatever the clinic types, the shade offered passes AA and is the colour darkened."""
    shade = darken_to_pass(color)
    assert contrast(shade, "#ffffff") >= AA
    assert color_problem(shade, "primary") is None
    for i in (1, 3, 5):
        assert int(shade[i : i + 2], 16) <= int(color[i : i + 2], 16)


@given(HEX)
def test_a_colour_is_refused_exactly_when_it_fails_aa(color):
    """The refusal says so with the ratio; a passing colour is accepted."""
    problem = color_problem(color, "accent")
    assert (problem is None) == (contrast(color, "#ffffff") >= AA)
    if problem:
        assert "too light" in problem and ":1" in problem
