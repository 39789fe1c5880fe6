"""Helpers of resolver/facts.py."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from resolver.environments import spec_contains
from resolver.facts import _Columns


def test_meets_any_answers_as_a_scan_of_every_version():
    # Newest first, as Universe.outside hands them out.
    versions = [Version(v) for v in ["3.0", "2.5.post1", "2.5", "2.5rc1", "2.0", "1.0", "0.9"]]
    truth = _Columns([])
    for text in [
        ">=2.1,<2.9",
        ">=2.6,<2.9",
        ">2.5",
        ">=2.5,!=2.5",
        "<1.5",
        ">=0.1,<0.5",
        "==2.0",
        "~=2.4",
        ">=4",
        "",
        ">1,>=2.5rc1,<2.5",
    ]:
        spec = SpecifierSet(text)
        expected = any(spec_contains(spec, v) for v in versions)
        assert truth.meets_any(spec, versions) is expected, text
