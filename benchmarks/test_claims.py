"""Every chapter-5 claim as a statistical assertion over seeds.

`pytest benchmarks` checks the fast tier; `pytest benchmarks -m slow` the book tier;
`-k <claim-id>` selects claims. Failing claims (and, at book scale, undecided ones) fail.
"""

import pytest

from fml_bench.claims import CLAIMS

PARAMS = [
    pytest.param("fast", c.id, id=f"fast-{c.id}", marks=pytest.mark.claim) for c in CLAIMS
] + [
    pytest.param("book", c.id, id=f"book-{c.id}", marks=[pytest.mark.claim, pytest.mark.slow]) for c in CLAIMS
]


@pytest.mark.parametrize(("tier", "claim_id"), PARAMS)
def test_claim(tier: str, claim_id: str, check) -> None:
    check(claim_id, tier)
