from typer.testing import CliRunner

from riskscore.cli import app
from riskscore.settings import get_settings

from .fake_api import FakeStripe
from .test_backfill import _platform


def test_ingest_stripe_then_retry_actions(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKSCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKSCORE_STRIPE_API_KEY", "sk_test_cli")
    get_settings.cache_clear()
    try:
        with FakeStripe() as api:
            _platform(api, accounts=3, charges=2)
            monkeypatch.setenv("RISKSCORE_STRIPE_API_BASE", api.url)
            result = CliRunner().invoke(app, ["ingest", "stripe", "--since", "2024-12-01",
                                              "--out", str(tmp_path / "data")])
            assert result.exit_code == 0, result.output
            assert "accounts=3" in result.output and "loaded into the store" in result.output
            again = CliRunner().invoke(app, ["ingest", "stripe", "--since", "2024-12-01",
                                             "--out", str(tmp_path / "data")])
            assert again.exit_code == 2 and "already in table" in again.output
            monkeypatch.setenv("RISKSCORE_STRIPE_LIVE_ACTIONS", "true")
            get_settings.cache_clear()
            retry = CliRunner().invoke(app, ["stripe", "retry-actions"])
            assert retry.exit_code == 0, retry.output
    finally:
        get_settings.cache_clear()
