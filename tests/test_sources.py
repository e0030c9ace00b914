"""Reading feedback and customers from real database engines: SQLite, DuckDB, and PostgreSQL (pgserver).

The same rows read from a CSV file and from a database table must ingest to the same frames, rejects
and counts; credentials come only from the environment and never reach run.json, the report or
messages.
"""

import json
import sqlite3

import pandas as pd
import pytest

from refine.errors import RefineError
from refine.io.config import config_from_dict
from refine.io.ingest import ingest
from refine.io.sources import check_source, expand, read_database, safe_url

FEEDBACK = pd.DataFrame(
    {
        "resp_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
        "Member No": ["007", "8", "404", "007", "9", "8"],
        "Comment Text": [
            "Love it - write me at jane@example.com",
            "   ",
            "Who am I",
            "Love it - write me at jane@example.com",
            "Delivery was slow, call +1 415 555 0199",
            "Fine",
        ],
        "rating": [9, 3, 4, 9, 2, None],
    }
)
CUSTOMERS = pd.DataFrame(
    {
        "Member No": ["007", "8", "9", "9"],
        "Tier Name": ["Gold", "Silver", "Gold", "Gold"],
        "region": ["west", "east", "north", "north"],
        "arr": [1200.5, 300.0, 800.0, 10.0],
        "churned": [0, 1, 0, 0],
    }
)


def config(feedback_source: dict | None = None, customers_source: dict | None = None):
    return config_from_dict(
        {
            "feedback": {
                "id": "resp_id",
                "customer_id": "Member No",
                "text": "Comment Text",
                "score": "rating",
                "score_kind": "nps",
                **(feedback_source or {}),
            },
            "customers": {
                "customer_id": "Member No",
                "segment": "Tier Name",
                "outcomes": ["churned"],
                "value": "arr",
                **(customers_source or {}),
            },
        }
    )


def from_files(tmp_path):
    FEEDBACK.to_csv(tmp_path / "feedback.csv", index=False)
    CUSTOMERS.to_csv(tmp_path / "customers.csv", index=False)
    return ingest(tmp_path / "feedback.csv", tmp_path / "customers.csv", config())


def same_as_files(db_result, file_result):
    pd.testing.assert_frame_equal(db_result.feedback, file_result.feedback)
    pd.testing.assert_frame_equal(db_result.customers, file_result.customers)
    pd.testing.assert_frame_equal(db_result.rejects, file_result.rejects)
    for key in ("feedback_in", "feedback_accepted", "feedback_rejected", "customers_in", "customers_rejected"):
        assert db_result.counts[key] == file_result.counts[key], key
    assert "jane@example.com" not in " ".join(db_result.feedback["text"])


def test_sqlite_table_ingests_like_the_csv(tmp_path):
    path = tmp_path / "cx.db"
    with sqlite3.connect(path) as connection:
        FEEDBACK.to_sql("answers", connection, index=False)
        CUSTOMERS.to_sql("crm", connection, index=False)
    url = f"sqlite:///{path}"
    settings = config({"database": url, "table": "answers"}, {"database": url, "table": "crm"})
    result = ingest(None, None, settings)
    same_as_files(result, from_files(tmp_path))
    assert result.counts["feedback_in"] == 6 and result.counts["feedback_rejected"] == 3  # blank, unknown, duplicate
    assert result.inputs["feedback"]["path"] == f"{url} (table answers)"


def test_sqlite_query_reads_in_chunks(tmp_path, monkeypatch):
    path = tmp_path / "cx.db"
    with sqlite3.connect(path) as connection:
        FEEDBACK.to_sql("answers", connection, index=False)
    table = read_database(
        f"sqlite:///{path}",
        query="select * from answers where \"Member No\" != '404' order by resp_id",
        what="feedback",
        section="feedback",
        chunk_rows=2,  # three chunks
    )
    assert table.rows_in == 5 and list(table.frame.index) == [1, 2, 3, 4, 5]
    assert table.frame.loc[1, "Member No"] == "007"  # ids stay text
    assert table.frame.loc[5, "rating"] == ""  # NULL is a blank cell, as in a file


def test_duckdb_table_ingests_like_the_csv(tmp_path):
    duckdb = pytest.importorskip("duckdb", reason="duckdb not installed (pip install 'refine[db]')")
    pytest.importorskip("duckdb_engine", reason="duckdb-engine not installed (pip install 'refine[db]')")
    path = tmp_path / "cx.duckdb"
    connection = duckdb.connect(str(path))
    connection.register("f", FEEDBACK)
    connection.register("c", CUSTOMERS)
    connection.execute("create table answers as select * from f")
    connection.execute("create table crm as select * from c")
    connection.close()
    url = f"duckdb:///{path}"
    settings = config(
        {"database": url, "query": "select * from answers order by resp_id"}, {"database": url, "table": "crm"}
    )
    same_as_files(ingest(None, None, settings), from_files(tmp_path))


def test_password_only_from_the_environment(tmp_path, monkeypatch):
    with pytest.raises(RefineError, match="holds a password"):
        check_source("feedback", "postgresql://cx:hunter2@db/cx", "answers", "", "refine.toml")
    with pytest.raises(RefineError, match="exactly one of table or query"):
        check_source("feedback", "sqlite:///x.db", "", "", "refine.toml")
    with pytest.raises(RefineError, match="channel"):
        config({"source": "postgresql://db/cx"})
    monkeypatch.delenv("REFINE_TEST_PW", raising=False)
    with pytest.raises(RefineError, match="REFINE_TEST_PW is not set"):
        expand("postgresql://cx:${REFINE_TEST_PW}@db/cx", "feedback")
    monkeypatch.setenv("REFINE_TEST_PW", "s3cr3t/pw")
    url, secrets = expand("postgresql://cx:${REFINE_TEST_PW}@db/cx", "feedback")
    assert url == "postgresql://cx:s3cr3t%2Fpw@db/cx" and secrets == ["s3cr3t/pw"]
    assert safe_url("postgresql://cx:${REFINE_TEST_PW}@db:5432/cx") == "postgresql://cx:***@db:5432/cx"


def test_driver_errors_never_show_the_password(monkeypatch):
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'refine[db]')")
    monkeypatch.setenv("REFINE_TEST_PW", "TopSecret123")
    # nothing listens on port 1: the driver's error must not carry the expanded password
    with pytest.raises(RefineError) as info:
        read_database(
            "postgresql://cx:${REFINE_TEST_PW}@127.0.0.1:1/cx", table="answers", what="feedback", section="feedback"
        )
    assert "TopSecret123" not in str(info.value) and "TopSecret123" not in str(info.value.where)


def _start_postgres(tmp_path):
    """A real PostgreSQL server from the pgserver wheel; (server, reason it could not start)."""
    try:
        import pgserver
    except ImportError:
        return None, "pgserver is not installed (pip install pgserver)"
    import tempfile

    # not under pytest's tmp_path: as root, pgserver runs postgres as its own user, who cannot enter it
    folder = tempfile.mkdtemp(prefix="refine-pg-")
    try:
        server = pgserver.get_server(folder, cleanup_mode="delete")
        server.psql("select 1;")
        return server, ""
    except Exception as exc:  # e.g. running as root without a usable unprivileged user
        return None, f"pgserver could not start PostgreSQL here ({type(exc).__name__}: {str(exc)[:160]})"


def test_postgresql_run_keeps_the_password_out_of_the_run_folder(tmp_path, monkeypatch, fake_embedder):
    """Needs a live PostgreSQL: skipped, with the reason, where pgserver cannot start one."""
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'refine[db]')")
    server, reason = _start_postgres(tmp_path)
    if server is None:
        pytest.skip(reason)
    import sqlalchemy as sa

    from refine.demo.company import generate_company

    company = generate_company(seed=3, n_customers=300, response_rate=0.3)
    secret = "Pg-Secret-771"
    admin = sa.create_engine(server.get_uri())
    with admin.begin() as connection:
        connection.execute(sa.text(f"create role cx_reader login password '{secret}'"))
        company.feedback.to_sql("answers", connection, index=False)
        company.customers.to_sql("crm", connection, index=False)
        connection.execute(sa.text("grant select on answers, crm to cx_reader"))
    admin.dispose()
    host_uri = sa.engine.make_url(server.get_uri())
    monkeypatch.setenv("REFINE_PG_PASSWORD", secret)
    url = f"postgresql://cx_reader:${{REFINE_PG_PASSWORD}}@/{host_uri.database}?host={host_uri.query.get('host')}"
    settings = config_from_dict(
        {
            "feedback": {
                "id": "resp_id",
                "customer_id": "Customer ID",
                "text": "Comment Text",
                "score": "rating",
                "score_kind": "nps",
                "database": url,
                "query": 'select * from answers order by "resp_id"',
            },
            "customers": {
                "customer_id": "Customer ID",
                "segment": "Segment",
                "outcomes": ["churned_90d"],
                "value": "revenue_12m",
                "database": url,
                "table": "crm",
            },
        }
    )
    try:
        result = ingest(None, None, settings)
        assert result.counts["feedback_in"] == len(company.feedback)
        assert result.counts["customers_in"] == len(company.customers)
        assert secret not in json.dumps(result.inputs)
        # a whole cycle from the database: the password is nowhere in the run folder or the messages
        from refine.run.cycle import run_cycle

        messages: list[str] = []
        cycle = run_cycle(None, None, settings, tmp_path / "run", echo=messages.append, embedder=fake_embedder)
        assert cycle.manifest.inputs["feedback"]["path"].startswith("postgresql://cx_reader:***@/")
        for path in (tmp_path / "run").iterdir():
            assert secret.encode() not in path.read_bytes(), path.name
        assert secret not in "\n".join(messages) and messages
    finally:
        server.cleanup()


def test_run_needs_a_file_or_a_database(tmp_path):
    from typer.testing import CliRunner

    from refine.cli.main import app

    (tmp_path / "refine.toml").write_text(
        '[feedback]\ncustomer_id = "id"\ntext = "t"\n[customers]\ncustomer_id = "id"\nsegment = "s"\n'
        'database = "sqlite:///x.db"\ntable = "crm"\n'
    )
    common = ["run", "--config", str(tmp_path / "refine.toml"), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, common)
    assert result.exit_code == 2 and "give --feedback, or set [feedback] database" in result.output
    result = CliRunner().invoke(app, [*common, "--feedback", "f.csv", "--customers", "c.csv"])
    assert result.exit_code == 2 and "either --customers or [customers] database" in result.output
