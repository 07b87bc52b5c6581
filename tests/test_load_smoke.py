"""A tiny version of the load test (benchmarks/load.py): 4 clients x 5 requests against the shared
app; every request answered, the server still up. The full run (16 x 200) is a benchmark."""
from benchmarks.load import run_load


def test_concurrent_clients_all_answered(live_app):
    result = run_load(live_app.url, clients=4, requests=5, timeout=120, rss=live_app.rss_mb)
    assert result["errors"] == 0, result["error_examples"]
    assert result["requests_done"] == 20 and result["p50_ms"] > 0
    assert result["rss_after_mb"] > 0 and live_app.proc.poll() is None
