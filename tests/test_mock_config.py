"""Settings: flags over LEADS_MOCK_* environment over defaults; bad values exit 2 with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_server.config import DEFAULT_FIXTURES, Runtime, Settings, load_settings


def test_defaults_without_flags_or_environment() -> None:
    settings = load_settings([], {})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.api_keys) == ("127.0.0.1", 8080, ("leads-mock-key",))
    assert settings.fixtures == DEFAULT_FIXTURES and settings.cors_origins == ("*",)
    assert (settings.rate_limit, settings.rate_window_seconds, settings.error_rate) == (2000, 60, 0.0)


def test_every_flag_is_read(tmp_path: Path) -> None:
    fixtures = tmp_path / "data.json"
    fixtures.write_text('{"leads": []}')
    settings = load_settings([
        "--host", "0.0.0.0", "--port", "9000", "--api-key", "a", "--api-key", "b", "--fixtures", str(fixtures),
        "--generate", "500", "--seed", "7", "--state-file", str(tmp_path / "state.json"),
        "--cors-origin", "https://app.example.com", "--cors-origin", "http://localhost:3000",
        "--admin-token", "t", "--latency", "50-300", "--error-rate", "0.25", "--rate-limit", "10/second",
        "--unsafe-open-admin", "--trust-proxy", "--header-timeout", "2.5", "--body-timeout", "7",
        "--keep-alive-timeout", "1", "--max-connections", "300",
    ], {})
    assert settings == Settings(
        host="0.0.0.0", port=9000, api_keys=("a", "b"), fixtures=fixtures, generate=500, seed=7,
        state_file=tmp_path / "state.json", cors_origins=("https://app.example.com", "http://localhost:3000"),
        admin_token="t", latency_ms=(50, 300), error_rate=0.25, rate_limit=10, rate_window_seconds=1,
        unsafe_open_admin=True, trust_proxy=True, header_timeout=2.5, body_timeout=7.0, keep_alive_timeout=1.0,
        max_connections=300,
    )


def test_environment_fills_in_for_missing_flags() -> None:
    env = {"LEADS_MOCK_PORT": "9100", "LEADS_MOCK_API_KEYS": "one, two,,three", "LEADS_MOCK_RATE_LIMIT": "100/hour",
           "LEADS_MOCK_CORS_ORIGINS": "https://a.example", "LEADS_MOCK_LATENCY": "0-5", "LEADS_MOCK_ERROR_RATE": "1",
           "LEADS_MOCK_ADMIN_TOKEN": "x", "LEADS_MOCK_HOST": "::1", "LEADS_MOCK_GENERATE": "10", "LEADS_MOCK_SEED": "3"}
    settings = load_settings([], env)
    assert settings.port == 9100 and settings.api_keys == ("one", "two", "three")
    assert (settings.rate_limit, settings.rate_window_seconds) == (100, 3600)
    assert settings.cors_origins == ("https://a.example",) and settings.latency_ms == (0, 5)
    assert settings.error_rate == 1.0 and settings.admin_token == "x" and settings.host == "::1"
    assert (settings.generate, settings.seed) == (10, 3)


def test_environment_fills_in_for_the_hardening_flags() -> None:
    env = {"LEADS_MOCK_UNSAFE_OPEN_ADMIN": "1", "LEADS_MOCK_TRUST_PROXY": "true", "LEADS_MOCK_HOST": "0.0.0.0",
           "LEADS_MOCK_HEADER_TIMEOUT": "3", "LEADS_MOCK_BODY_TIMEOUT": "4.5", "LEADS_MOCK_KEEP_ALIVE_TIMEOUT": "2",
           "LEADS_MOCK_MAX_CONNECTIONS": "64"}
    settings = load_settings([], env)
    assert (settings.unsafe_open_admin, settings.trust_proxy) == (True, True)
    assert (settings.header_timeout, settings.body_timeout, settings.keep_alive_timeout) == (3.0, 4.5, 2.0)
    assert settings.max_connections == 64
    off = load_settings([], {"LEADS_MOCK_TRUST_PROXY": "off"})
    assert (off.trust_proxy, off.unsafe_open_admin, off.max_connections) == (False, False, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "mock.example.com", "[::]"])
def test_a_host_other_machines_reach_is_refused_without_an_admin_token(host: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        load_settings(["--host", host], {})
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"--host {host} is reachable from other machines" in err
    assert "--admin-token" in err and "--unsafe-open-admin" in err


@pytest.mark.parametrize("extra", [["--admin-token", "t"], ["--unsafe-open-admin"]])
def test_a_non_loopback_host_starts_with_a_token_or_an_explicit_open_admin(extra: list[str]) -> None:
    assert load_settings(["--host", "0.0.0.0", *extra], {}).host == "0.0.0.0"
    assert load_settings([*extra], {"LEADS_MOCK_HOST": "0.0.0.0"}).host == "0.0.0.0"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]", "LOCALHOST"])
def test_loopback_hosts_need_no_admin_token(host: str) -> None:
    assert load_settings(["--host", host], {}).host == host


def test_flags_win_over_the_environment() -> None:
    settings = load_settings(["--port", "7000", "--api-key", "flag"], {"LEADS_MOCK_PORT": "9100",
                                                                        "LEADS_MOCK_API_KEYS": "env"})
    assert settings.port == 7000 and settings.api_keys == ("flag",)


def test_repeated_keys_collapse_in_order() -> None:
    assert load_settings(["--api-key", "b", "--api-key", "a", "--api-key", "b"], {}).api_keys == ("b", "a")


@pytest.mark.parametrize("argv", [
    ["--port", "http"], ["--port", "70000"], ["--port", "-1"], ["--api-key", ""], ["--api-key", " padded "],
    ["--fixtures", "/no/such/file.json"], ["--generate", "-5"], ["--generate", "many"], ["--seed", "1.5"],
    ["--cors-origin", "example.com"], ["--cors-origin", "https://example.com/path"], ["--latency", "300-50"],
    ["--latency", "fast"], ["--latency", "-5-10"], ["--latency", "0-30001"], ["--error-rate", "1.5"], ["--error-rate", "nan"],
    ["--rate-limit", "0/minute"], ["--rate-limit", "10/day"], ["--rate-limit", "ten/minute"], ["--rate-limit", "10"],
    ["--no-such-flag"], ["--rate-limit", "9" * 400 + "/minute"], ["--rate-limit", "1000000001/second"],
    ["--header-timeout", "0"], ["--body-timeout", "-1"], ["--keep-alive-timeout", "nan"],
    ["--body-timeout", "1e400"], ["--header-timeout", "3601"], ["--max-connections", "0"],
    ["--max-connections", "9" * 400], ["--port", "9" * 5000],
])
def test_bad_flag_values_exit_2_with_a_message(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        load_settings(argv, {})
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("name, value", [("PORT", "x"), ("RATE_LIMIT", "5/fortnight"), ("ERROR_RATE", "-1"),
                                         ("API_KEYS", ", ,"), ("LATENCY", "1"), ("TRUST_PROXY", "maybe"),
                                         ("UNSAFE_OPEN_ADMIN", "2"), ("BODY_TIMEOUT", "soon"),
                                         ("MAX_CONNECTIONS", "-3")])
def test_bad_environment_values_exit_2_naming_the_variable(name: str, value: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        load_settings([], {f"LEADS_MOCK_{name}": value})
    err = capsys.readouterr().err
    assert exited.value.code == 2 and f"LEADS_MOCK_{name}" in err


def test_rate_limit_units_accept_plurals_and_case() -> None:
    assert load_settings(["--rate-limit", "5/Seconds"], {}).rate_window_seconds == 1


def test_runtime_starts_from_the_settings_and_is_mutable() -> None:
    runtime = Runtime.from_settings(Settings(latency_ms=(1, 2), error_rate=0.5, rate_limit=9, rate_window_seconds=3))
    values = (runtime.latency_ms, runtime.error_rate, runtime.rate_limit, runtime.rate_window_seconds)
    assert values == ((1, 2), 0.5, 9, 3)
    runtime.rate_limit = 1
    assert runtime.rate_limit == 1


def test_the_latency_flag_and_the_settings_route_share_one_bound() -> None:
    from mock_server.option_values import MAX_LATENCY_MS
    from mock_server.controls.faults import MAX_DELAY_MS
    assert MAX_LATENCY_MS == MAX_DELAY_MS
    assert load_settings(["--latency", f"0-{MAX_LATENCY_MS}"], {}).latency_ms == (0, MAX_LATENCY_MS)


def test_the_database_url_comes_from_the_flag_or_the_environment() -> None:
    url = "postgresql://mock:secret@db.internal:5432/leads"
    assert load_settings(["--database-url", url], {}).database_url == url
    assert load_settings([], {"LEADS_MOCK_DATABASE_URL": url}).database_url == url
    assert load_settings([], {}).database_url is None


@pytest.mark.parametrize("argv, env", [
    (["--database-url", "mysql://db/leads"], {}),
    ([], {"LEADS_MOCK_DATABASE_URL": "sqlite:///state.db"}),
    (["--database-url", "postgresql://db/leads", "--state-file", "state.db"], {}),
    (["--state-file", "state.db"], {"LEADS_MOCK_DATABASE_URL": "postgresql://db/leads"}),
])
def test_a_database_url_that_is_not_postgresql_or_comes_with_a_state_file_exits_2(argv, env, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        load_settings(argv, env)
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert "database" in error.lower() and "secret" not in error
