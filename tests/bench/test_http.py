"""H1's pieces that can be checked without a load run (bench/http.py; the run itself is ``make bench``): wrk missing
skips the case, wrk's result line is read with every kind of error, and the floor is routed only in the benchmark."""

import psycopg
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.urls import Resolver404, resolve
from django.utils import timezone

from bench import http, http_pair, http_profile
from bench.http_env import h1_database, h1_environment, throwaway_database
from classroom import tokens
from tests import factories


def test_without_wrk_the_case_says_so_and_is_skipped(monkeypatch, capsys):
    monkeypatch.setattr(http.shutil, "which", lambda name: None)
    result = http.run_h1(report=None, database_url="postgres://nobody@127.0.0.1:1/never")  # nothing is touched
    assert result["targets"] == [{"target": "H1", "value": "-", "goal": "wrk installed", "result": "SKIP"}]
    assert "wrk is not installed (apt-get install -y wrk)" in capsys.readouterr().out
    assert result["summary"] == "H1 skipped: wrk is not installed (apt-get install -y wrk)"


def test_wrks_result_line_gives_rates_percentiles_and_every_error():
    output = (
        "Running 10s test @ http://127.0.0.1:8000\n"
        'H1RESULT {"requests": 6000, "duration_us": 10000000, "connect": 0, "read": 2, "write": 0, "status": 3, '
        '"timeout": 1, "p50_us": 41000, "p99_us": 98500, "max_us": 120000}\n'
    )
    run = http.parse_wrk(output)
    assert run["rps"] == 600 and run["p50_ms"] == 41 and run["p99_ms"] == 98.5
    assert run["errors"] == 6 and run["error_kinds"] == {"read": 2, "status": 3, "timeout": 1}


def test_the_floor_is_routed_only_in_the_benchmark(settings):
    with pytest.raises(Resolver404):
        resolve(http.FLOOR_PATH)  # production's URLconf
    assert resolve(http.FLOOR_PATH, urlconf="bench.http_urls").url_name == "bench-floor"
    assert resolve("/healthz", urlconf="bench.http_urls").url_name == "healthz"  # and every URL of the app


def test_each_target_of_the_issue_is_checked():
    runs = {key: {"rps": 900.0, "p99_ms": 50.0, "errors": 0} for key, *_ in http.ENDPOINTS}
    runs["list"] = {"rps": 200.0, "p99_ms": 200.0, "errors": 1}
    clock = {"lateness_p99": 1.2, "not_opened": 0, "due": 100, "delivered_during_run": 400, "messages": 400}
    clock |= {"messages_not_sent": 0, "delivery_p99": 0.8}
    results = {t["target"]: t["result"] for t in http._targets(runs, clock)}
    assert results["H1 meeting list (student) req/s"] == "MISS"
    assert results["H1 meeting list (student) p99"] == "MISS"
    assert results["H1 meeting list (student) errors"] == "MISS"
    assert results["H1 meeting list (student) vs floor"] == "MISS"  # 900 / 200 = x4.5
    assert results["H1 join-link click /j/<token>/ req/s"] == "PASS"
    assert results["H1 join-link click /j/<token>/ vs floor"] == "PASS"
    assert results["H1 clock: p99 open lateness"] == "PASS"
    assert results["H1 outbox: delivered during the run"] == "PASS"


@pytest.fixture
def kept_connection():
    """The handler closes the connection around each request (as a gunicorn worker wants); the test's transaction
    must outlive it, as Django's test client arranges."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.mark.django_db
def test_the_profile_replays_a_requests_file_and_shows_its_queries_and_where_the_time_went(
    settings, tmp_path, capsys, kept_connection
):
    """bench.http_profile's child: the requests of one of H1's files through the WSGI handler, under cProfile."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    _, token = tokens.issue(factories.StudentFactory(user=factories.UserFactory()).user, now=timezone.now())
    requests = tmp_path / "list.tsv"
    requests.write_text(f"/api/v1/meetings/\t{token}\n")
    summary = http_profile.replay(requests, count=20, top=5)
    assert summary["file"] == "list.tsv" and summary["requests"] == 20 and summary["per_second"] > 0
    # the token, the page, and (the list is empty: no row carries it) the count
    assert summary["ms"] > 0 and len(summary["queries"]) == 3
    assert summary["queries"][0].startswith('SELECT k."id", k."user_id", k."digest"')  # the token
    profile = capsys.readouterr().err
    assert "function calls" in profile and "Ordered by: cumulative time" in profile and "handlers/wsgi.py" in profile


@pytest.mark.django_db
def test_the_profile_stops_on_a_request_that_fails(settings, tmp_path, kept_connection):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    requests = tmp_path / "list.tsv"
    requests.write_text("/api/v1/meetings/\tnot-a-token\n")
    with pytest.raises(SystemExit, match="/api/v1/meetings/: 401"):
        http_profile.replay(requests, count=5, top=5)


def test_the_profile_database_lies_beside_the_benchmarks():
    admin, url, name = h1_database("postgres://u@127.0.0.1:5432/classroom_bench", suffix="profile")
    assert (admin, name) == ("postgres://u@127.0.0.1:5432/postgres", "classroom_bench_profile")
    assert url == "postgres://u@127.0.0.1:5432/classroom_bench_profile"
    env = h1_environment(url, secret_key="k" * 50)
    assert env["SECRET_KEY"] == "k" * 50 and env["DEBUG"] == "false" and env["DATABASE_URL"] == url
    assert h1_environment(url)["SECRET_KEY"] != h1_environment(url)["SECRET_KEY"]  # a new key each run otherwise


@pytest.mark.postgres
def test_the_throwaway_database_is_new_and_gone_afterwards_whatever_happens():
    base = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**connection.settings_dict)
    admin_url, _, name = h1_database(base, suffix="throwaway_test")

    def exists() -> bool:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    with pytest.raises(RuntimeError, match="inside"), throwaway_database(base, suffix="throwaway_test") as (url, made):
        assert made == name and url.endswith(f"/{name}") and exists()
        with psycopg.connect(url) as conn:  # empty: no table yet
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        raise RuntimeError("a failure inside")
    assert not exists()


def test_the_pair_compares_round_by_round():
    """The ratio is taken within each round (the machine's drift cancels), then its median."""

    def run(rps, p99=50.0, errors=0):
        return {"rps": rps, "p99_ms": p99, "errors": errors}

    # The machine slows by half in round 2: each round still reads this one 1.5x faster.
    runs = {"this": [run(300), run(150, 90), run(330)], "other": [run(200), run(100, 120, 2), run(200)]}
    result = http_pair.summary(runs)
    assert result["ratio"] == 1.5 and result["ratio_range"] == (1.5, 1.65)
    assert result["this"] == {"rps": 300, "p99_ms": 50.0} and result["other"] == {"rps": 200, "p99_ms": 50.0}
    assert result["errors"] == {"this": 0, "other": 2}


def test_the_pair_refuses_what_is_not_a_checkout_or_not_a_requests_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        http_pair.main([str(tmp_path)])
    assert "is not a checkout of this project (no manage.py)" in capsys.readouterr().err
    (tmp_path / "manage.py").touch()
    with pytest.raises(SystemExit):
        http_pair.main([str(tmp_path), "floor.tsv"])
    assert "unknown requests file floor.tsv" in capsys.readouterr().err
