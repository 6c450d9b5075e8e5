"""Every chapter-5 claim as a statistical assertion over seeds.

`pytest benchmarks` checks the fast tier; `pytest benchmarks -m slow` the book tier;
`-k <claim-id>` selects claims. Failing claims (and, at book scale, undecided ones) fail.
The measurements run too (reported beside the family, never failing), so that pytest and
`fml-bench check` check the same registry and write the same report.
"""

import pytest

from fml_bench import test_order
from fml_bench.claims import ALL
from fml_bench.tiers import TIERS

PARAMS = [
    pytest.param(tier.name, c.id, id=f"{tier.name}-{c.id}",
                 marks=[pytest.mark.claim, *tier.marks(), test_order.mark(test_order.claim_seconds(c.id, tier.name))])
    for tier in TIERS.values() for c in ALL
]


@pytest.mark.parametrize(("tier", "claim_id"), PARAMS)
def test_claim(tier: str, claim_id: str, check) -> None:
    check(claim_id, tier)
