"""The colour rules of ``tenants.branding``: WCAG contrast and the suggested passing shade."""

from __future__ import annotations

import random

import pytest

from tenants.branding import AA, color_problem, contrast, darken_to_pass

#: Every colour of the 4,096-step grid (#000, #001, ... #fff expanded), every grey, and 3,000
#: seeded random colours. A fixed sweep rather than Hypothesis: Hypothesis refuses to run when
#: another thread (the session's queue worker) touches the global ``random`` mid-example.
COLOURS = sorted(
    {f"#{r:x}{r:x}{g:x}{g:x}{b:x}{b:x}" for r in range(16) for g in range(16) for b in range(16)}
    | {f"#{v:02x}{v:02x}{v:02x}" for v in range(256)}
    | {f"#{random.Random(n).randrange(0x1000000):06x}" for n in range(3000)}
)


def test_contrast_matches_wcag_reference_values():
    """Black on white is 21:1, white on white 1:1, #767676 the lightest AA grey."""
    assert round(contrast("#000000", "#ffffff"), 2) == 21.0
    assert contrast("#ffffff", "#ffffff") == 1.0
    assert contrast("#767676", "#ffffff") >= AA > contrast("#777777", "#ffffff")


@pytest.mark.parametrize("chunk", range(4))
def test_the_suggested_shade_always_passes_and_is_never_lighter(chunk):
    """Whatever the clinic types, the shade offered passes AA and is the colour darkened."""
    for color in COLOURS[chunk::4]:
        shade = darken_to_pass(color)
        assert contrast(shade, "#ffffff") >= AA, color
        assert color_problem(shade, "primary") is None, color
        for i in (1, 3, 5):
            assert int(shade[i : i + 2], 16) <= int(color[i : i + 2], 16), color


def test_a_colour_is_refused_exactly_when_it_fails_aa():
    """The refusal says so with the ratio; a passing colour is accepted."""
    for color in COLOURS:
        problem = color_problem(color, "accent")
        assert (problem is None) == (contrast(color, "#ffffff") >= AA), color
        if problem:
            assert "too light" in problem and ":1" in problem
