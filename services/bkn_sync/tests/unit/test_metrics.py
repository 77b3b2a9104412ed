from prometheus_client import REGISTRY, generate_latest

from bkn_sync import metrics
from kinerja_tools.testing.scrape import values


def test_set_parked_zeroes_reasons_that_are_gone() -> None:
    metrics.set_parked({"BKN-T91": 2, "BKN-T92": 1})
    metrics.set_parked({"BKN-T92": 4})
    text = generate_latest(REGISTRY).decode()
    assert values(text, "kinerja_bkn_sync_parked", reason="BKN-T91") == [0.0]
    assert values(text, "kinerja_bkn_sync_parked", reason="BKN-T92") == [4.0]
