"""Every claim can fail on real training: with its mechanism removed and everything else kept
(L2 factor 0, dropout rate 0, labels left unshuffled, ...: `Claim.knockout`), the fast tier's
verdict must be *fail*. Knock-out runs share the store with the claims' runs, so a knock-out
that makes an arm equal to another arm reuses its runs."""

import pytest

from fml_bench import test_order
from fml_bench.claims import CLAIMS

PARAMS = [pytest.param(c.id, id=f"knockout-{c.id}",
                       marks=[pytest.mark.claim, test_order.mark(test_order.claim_seconds(c.id, "fast", True))])
          for c in CLAIMS]


@pytest.mark.parametrize("claim_id", PARAMS)
def test_knockout_fails_the_claim(claim_id: str, check) -> None:
    check(claim_id, "fast", knockout=True)
