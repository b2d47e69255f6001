"""Subscriptions: ``subscribe``, ``unsubscribe`` and ``feeds``, and a ``run`` over many feeds,
each with its own conditional GET and its own error; ``--feed-url`` as a one-off."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest
from podcast_reliability_kit import conditional, error_lines, start_cli, stop, trickle, wait_for
from podcast_testkit import REAL_FEEDS, SILENT_MP3, FaultServer, make_feed, make_item, respond
from test_migration import FEED, make_single_feed_db

from podcast_pipeline import main


@pytest.fixture(name="cli")
def fixture_cli(db_path: Path, episodes_dir: Path, capsys: pytest.CaptureFixture):
    """Run a command in-process on this test's database; return (exit code, stdout, stderr)."""
    def cli(command: str, *args: str) -> tuple[int, str, str]:
        extra = ["--episodes-dir", str(episodes_dir), "--no-transcribe"] if command == "run" else []
        try:
            code = main([command, "--db-path", str(db_path), *extra, *args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return cli


def show(server: FaultServer, name: str, numbers: tuple[int, ...], title: str,
         responder=respond) -> str:
    """A loopback feed ``/name.xml`` titled ``title`` whose episode n (published on day n) is
    silence; return its URL."""
    payload = make_feed([make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in numbers])
    server.routes[f"/{name}.xml"] = [responder(payload.replace(b"<title>Test</title>",
                                                               f"<title>{title}</title>".encode()))]
    for n in numbers:
        server.routes[f"/audio/{n}.mp3"] = [respond(SILENT_MP3)]
    return server.url(f"/{name}.xml")


def episode_feeds(db_path: Path) -> dict[str, str]:
    """Each stored episode's feed."""
    with sqlite3.connect(db_path) as db:
        rows = dict(db.execute("SELECT link, feed_url FROM episodes").fetchall())
    db.close()
    return rows


def feeds_json(cli) -> dict[str, dict]:
    """The ``feeds`` command's JSON, by URL."""
    code, out, _ = cli("feeds", "--format", "json")
    assert code == 0
    return {feed["url"]: feed for feed in json.loads(out)}


def test_two_real_feeds_update_in_one_run(cli, server: FaultServer, db_path: Path) -> None:
    """Two subscribed real feeds: one run stores both, each episode under its own feed, each
    feed named by its channel title and counted."""
    urls = {}
    for name, title in (("marketplace", "Marketplace"), ("Hard Fork", "Hard Fork")):
        path = REAL_FEEDS / f"{name}.rss"
        if not path.is_file():
            pytest.skip(f"{path} not found")
        server.routes[f"/{name.replace(' ', '-')}.xml"] = [respond(path.read_bytes())]
        urls[title] = server.url(f"/{name.replace(' ', '-')}.xml")
        assert cli("subscribe", urls[title])[0] == 0
    code, out, err = cli("run", "--skip-download", "--format", "json")
    assert (code, error_lines(err)) == (0, [])
    summary = json.loads(out)
    assert [(f["url"], f["title"], f["episodes_in_feed"], f["new_episodes"])
            for f in summary["feeds"]] == [(urls["Marketplace"], "Marketplace", 50, 50),
                                           (urls["Hard Fork"], "Hard Fork", 34, 34)]
    assert summary["new_episodes"] == 84
    stored = episode_feeds(db_path)
    assert sorted(stored.values()).count(urls["Marketplace"]) == 50
    assert sorted(stored.values()).count(urls["Hard Fork"]) == 34
    listed = feeds_json(cli)
    assert {(f["title"], f["episodes"], f["subscribed"], f["last_result"], f["last_error"])
            for f in listed.values()} == {("Marketplace", 50, True, "50 new of 50", None),
                                          ("Hard Fork", 34, True, "34 new of 34", None)}


def test_a_dead_feed_is_reported_and_the_others_still_update(cli, server: FaultServer) -> None:
    """One feed 404s, another is not RSS: the good one is stored and downloaded, both failures
    are in the summary and the feeds list, one error line, exit 1; the next run retries them."""
    good = show(server, "good", (1, 2), "Good show")
    gone, html = server.url("/gone.xml"), server.url("/html.xml")
    server.routes["/gone.xml"] = [respond(b"not here", status=404)]
    server.routes["/html.xml"] = [respond(b"<html>captive portal</html>")]
    for url in (gone, good, html):
        cli("subscribe", url)
    code, out, err = cli("run", "--format", "json")
    summary = json.loads(out)
    assert code == 1 and summary["downloaded"] == 2
    assert [f["error"] is None for f in summary["feeds"]] == [False, True, False]
    assert error_lines(err) == [f"error: 2 of 3 feeds failed: {gone}, {html}"]
    listed = feeds_json(cli)
    assert "404" in listed[gone]["last_error"] and listed[gone]["last_result"] == "failed"
    assert listed[good]["downloaded"] == 2 and listed[good]["last_error"] is None
    server.routes["/html.xml"] = [respond(make_feed([]))]
    code, _, err = cli("run")
    assert code == 1 and error_lines(err) == [f"error: 1 of 3 feeds failed: {gone}: could not "
                                              f"fetch feed {gone}: 404 Client Error: Not Found "
                                              f"for url: {gone}"]
    assert feeds_json(cli)[html]["last_error"] is None


def test_max_episodes_is_a_budget_per_run_across_feeds(cli, server: FaultServer,
                                                       episodes_dir: Path) -> None:
    """Feed A has days 1 and 3, feed B days 2 and 4: --max-episodes 2 downloads days 4 and 3."""
    cli("subscribe", show(server, "a", (1, 3), "A"))
    cli("subscribe", show(server, "b", (2, 4), "B"))
    code, out, _ = cli("run", "--max-episodes", "2", "--format", "json")
    assert code == 0 and json.loads(out)["downloaded"] == 2
    assert sorted(path.name.split("-")[1] for path in episodes_dir.glob("*.mp3")) == ["3", "4"]


def test_each_feed_has_its_own_conditional_get(cli, server: FaultServer) -> None:
    """Second run: each feed sends its own validators and gets its own 304."""
    seen_a: list[dict[str, str]] = []
    seen_b: list[dict[str, str]] = []
    cli("subscribe", show(server, "a", (1,), "A", lambda p: conditional(p, '"a"', seen=seen_a)))
    cli("subscribe", show(server, "b", (2,), "B", lambda p: conditional(p, '"b"', seen=seen_b)))
    assert cli("run")[0] == 0
    code, out, _ = cli("run", "--format", "json")
    assert code == 0 and [f["not_modified"] for f in json.loads(out)["feeds"]] == [True, True]
    assert [s["If-None-Match"] for s in seen_a] == [None, '"a"']
    assert [s["If-None-Match"] for s in seen_b] == [None, '"b"']


def test_feed_url_is_a_one_off_that_does_not_subscribe(cli, server: FaultServer,
                                                       db_path: Path) -> None:
    """--feed-url B updates only B and leaves it unsubscribed; the next plain run updates only
    the subscriptions and downloads only their episodes."""
    a = show(server, "a", (1,), "A")
    b = show(server, "b", (2,), "B")
    cli("subscribe", a)
    code, out, _ = cli("run", "--feed-url", b, "--skip-download", "--format", "json")
    assert code == 0 and [f["url"] for f in json.loads(out)["feeds"]] == [b]
    assert "/a.xml" not in server.hits
    assert {url: f["subscribed"] for url, f in feeds_json(cli).items()} == {a: True, b: False}
    code, out, _ = cli("run", "--format", "json")
    assert code == 0 and [f["url"] for f in json.loads(out)["feeds"]] == [a]
    assert server.hits["/b.xml"] == 1 and "/audio/2.mp3" not in server.hits
    assert episode_feeds(db_path) == {"https://example.org/ep/1": a,
                                      "https://example.org/ep/2": b}


def test_a_new_database_subscribes_the_default_feed(cli, server: FaultServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain run with no subscription updates PODCAST_FEED_URL and subscribes it, so a feed
    subscribed later is updated beside it, not instead of it."""
    default = show(server, "default", (1,), "Default")
    monkeypatch.setenv("PODCAST_FEED_URL", default)
    assert cli("run")[0] == 0
    assert cli("subscribe", show(server, "other", (2,), "Other"))[0] == 0
    code, out, _ = cli("run", "--format", "json")
    assert code == 0 and [f["title"] for f in json.loads(out)["feeds"]] == ["Default", "Other"]


def test_a_failing_default_feed_is_not_subscribed(cli, server: FaultServer, db_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A new database whose default feed fails: exit 1, no database left behind."""
    monkeypatch.setenv("PODCAST_FEED_URL", server.url("/missing.xml"))
    code, _, err = cli("run")
    assert code == 1 and "404" in error_lines(err)[0]
    assert not db_path.exists()


def test_subscribe_is_idempotent_and_fetches_nothing(cli, server: FaultServer) -> None:
    """Subscribing twice: one subscription; nothing fetched until a run."""
    url = show(server, "a", (1,), "A")
    assert cli("subscribe", url, "--format", "json")[1] == (
        f'{{"url": "{url}", "subscribed": true, "new": true}}\n')
    assert cli("subscribe", url)[1] == f"Already subscribed to {url}\n"
    assert not server.hits
    (listed,) = feeds_json(cli).values()
    assert (listed["title"], listed["checked_at"], listed["episodes"]) == (None, None, 0)


@pytest.mark.parametrize("spelling", ["HTTP://127.0.0.1:9/a.xml", "http://127.0.0.1:9/a.xml#new",
                                      " feed://127.0.0.1:9/a.xml "])
def test_one_feed_under_another_spelling_is_subscribed_once(cli, spelling: str) -> None:
    """Host case, a fragment, an app's ``feed://``: the same feed, not a second subscription
    (which was fetched on its own and listed with 0 episodes, its episodes all under the first)."""
    assert cli("subscribe", "http://127.0.0.1:9/a.xml")[0] == 0
    assert cli("subscribe", spelling)[1] == "Already subscribed to http://127.0.0.1:9/a.xml\n"
    assert list(feeds_json(cli)) == ["http://127.0.0.1:9/a.xml"]
    assert cli("unsubscribe", spelling)[0] == 0
    assert not feeds_json(cli)["http://127.0.0.1:9/a.xml"]["subscribed"]


def test_a_feed_stored_under_an_old_spelling_is_still_that_feed(cli, db_path: Path) -> None:
    """A row an older version stored as typed is found by the feed's one spelling."""
    cli("subscribe", "http://127.0.0.1:9/b.xml")
    with sqlite3.connect(db_path) as db:
        db.execute("INSERT INTO feeds (url, subscribed_at) VALUES ('HTTP://127.0.0.1:9/A.xml#x', "
                   "'2024-01-01T00:00:00+00:00')")
    db.close()
    assert cli("subscribe", "http://127.0.0.1:9/A.xml")[1].startswith("Already subscribed")
    assert cli("unsubscribe", "http://127.0.0.1:9/A.xml")[0] == 0
    assert feeds_json(cli)["HTTP://127.0.0.1:9/A.xml#x"]["subscribed"] is False


@pytest.mark.parametrize("url", ["file:///etc/passwd", "feed.xml", "ftp://host/feed.xml", ""])
def test_subscribe_refuses_what_is_not_an_http_url(cli, url: str, db_path: Path) -> None:
    """A usage error before anything is written."""
    code, _, err = cli("subscribe", url)
    assert code == 2 and "must be an http(s) URL" in err
    assert not db_path.exists()


def test_unsubscribe_keeps_episodes_and_files(cli, server: FaultServer, db_path: Path,
                                              episodes_dir: Path) -> None:
    """Unsubscribed: not fetched again, but its episodes, files and counts stay."""
    url = show(server, "a", (1,), "A")
    cli("subscribe", url)
    cli("subscribe", show(server, "b", (2,), "B"))
    assert cli("run")[0] == 0
    assert cli("unsubscribe", url) == (
        0, f"Unsubscribed from {url}; its episodes and files are kept\n", "")
    assert cli("run")[0] == 0
    assert server.hits["/a.xml"] == 1
    assert len(list(episodes_dir.glob("*.mp3"))) == 2 and len(episode_feeds(db_path)) == 2
    listed = feeds_json(cli)[url]
    assert (listed["subscribed"], listed["episodes"], listed["downloaded"]) == (False, 1, 1)
    code, out, _ = cli("feeds")
    assert code == 0 and "A [unsubscribed]" in out


def test_a_feed_subscribed_under_its_new_url_takes_over_its_episodes(
        cli, server: FaultServer, db_path: Path, episodes_dir: Path) -> None:
    """A show that moved: the old URL unsubscribed, the new one subscribed, both listing the same
    episodes. The new feed claims them, so they are downloaded and counted under it (they were
    left under the old URL, never downloaded, with "0 failed" and exit 0)."""
    old = show(server, "old", (1, 2), "Show")
    server.routes["/new.xml"] = server.routes["/old.xml"]
    new = server.url("/new.xml")
    cli("subscribe", old)
    assert cli("run", "--skip-download")[0] == 0
    cli("unsubscribe", old)
    cli("subscribe", new)
    code, out, _ = cli("run", "--format", "json")
    assert code == 0 and json.loads(out)["downloaded"] == 2
    assert set(episode_feeds(db_path).values()) == {new}
    assert len(list(episodes_dir.glob("*.mp3"))) == 2
    assert (feeds_json(cli)[new]["episodes"], feeds_json(cli)[old]["episodes"]) == (2, 0)


def test_an_episode_of_a_subscribed_feed_is_not_claimed_by_a_one_off(
        cli, server: FaultServer, db_path: Path) -> None:
    """A one-off --feed-url run listing an episode of a subscribed feed leaves it there."""
    a = show(server, "a", (1,), "A")
    server.routes["/b.xml"] = server.routes["/a.xml"]
    cli("subscribe", a)
    assert cli("run", "--skip-download")[0] == 0
    assert cli("run", "--skip-download", "--feed-url", server.url("/b.xml"))[0] == 0
    assert set(episode_feeds(db_path).values()) == {a}


@pytest.mark.parametrize("exists", [True, False])
def test_unsubscribing_an_unknown_feed_is_an_error(cli, exists: bool, db_path: Path) -> None:
    """One error line naming what is subscribed; no database created."""
    if exists:
        cli("subscribe", "http://127.0.0.1:9/a.xml")
    code, out, err = cli("unsubscribe", "http://127.0.0.1:9/other.xml")
    assert (code, out) == (1, "")
    subscribed = "http://127.0.0.1:9/a.xml" if exists else "none"
    assert error_lines(err) == ["error: not subscribed to http://127.0.0.1:9/other.xml; "
                                f"subscribed: {subscribed} (see the feeds command)"]
    assert db_path.exists() == exists


def test_feeds_on_a_missing_database_creates_nothing(cli, db_path: Path) -> None:
    """An empty list, and no database file."""
    assert cli("feeds", "--format", "json") == (0, "[]\n", "")
    assert cli("feeds")[1].startswith("No feeds yet")
    assert not db_path.exists()


def test_a_single_feed_database_runs_on_after_its_migration(cli, server: FaultServer,
                                                           db_path: Path) -> None:
    """A database from before subscriptions: its feed is the subscription, its episodes stay,
    the next plain run updates it (claiming nothing twice) and the feeds list counts them."""
    make_single_feed_db(db_path, feeds=(FEED,))
    server.routes["/marketplace.xml"] = [respond(make_feed(
        [make_item(n, server.url(f"/audio/{n}.mp3"), day=n) for n in (3, 4)]))]
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE feeds SET url = ?", (server.url("/marketplace.xml"),))
    db.close()
    code, out, _ = cli("run", "--skip-download", "--format", "json")
    assert code == 0 and json.loads(out)["feeds"][0]["new_episodes"] == 1  # ep/3 was stored
    assert set(episode_feeds(db_path).values()) == {server.url("/marketplace.xml")}
    assert len(episode_feeds(db_path)) == 4
    (listed,) = feeds_json(cli).values()
    assert (listed["title"], listed["episodes"], listed["transcribed"]) == ("Test", 4, 1)


def test_a_migrated_feed_that_has_not_changed_gets_its_title(cli, server: FaultServer,
                                                             db_path: Path) -> None:
    """The old database's feed answers 304 to its old validators: the first run after the
    migration fetches it in full all the same, so the feed and its search hits have a title (it
    stayed "title unknown" until the show next published)."""
    make_single_feed_db(db_path, feeds=(FEED,))
    url = server.url("/marketplace.xml")
    server.routes["/marketplace.xml"] = [conditional(
        make_feed([make_item(1, server.url("/audio/1.mp3"), day=1)]), etag='"v1"')]
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE feeds SET url = ?", (url,))
    db.close()
    code, out, _ = cli("run", "--skip-download", "--format", "json")
    assert code == 0 and json.loads(out)["feeds"][0]["title"] == "Test"
    assert feeds_json(cli)[url]["title"] == "Test"


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_a_second_feed_trickles_in_keeps_the_first(
        cli, server: FaultServer, db_path: Path, episodes_dir: Path, signum: int) -> None:
    """Ctrl-C (or SIGTERM) while the second feed's document arrives: exit 130 (143) with one
    error line, the first feed's episodes stored, nothing of the second; the next run
    completes both."""
    first = show(server, "a", (1,), "A")
    second = show(server, "b", (2,), "B")
    payload = make_feed([make_item(2, server.url("/audio/2.mp3"), day=2)])
    server.routes["/b.xml"] = [trickle(payload, chunk=32, interval=0.2)]
    cli("subscribe", first)
    cli("subscribe", second)
    process = start_cli("run", "--db-path", str(db_path), "--episodes-dir", str(episodes_dir),
                        "--no-transcribe", cwd=db_path.parent)
    wait_for(lambda: server.hits.get("/b.xml", 0) == 1)
    returncode, err, took = stop(process, signum)
    assert (returncode, took < 2.0) == (128 + signum, True), err
    assert [line.split(" (")[0] for line in error_lines(err)] == ["error: interrupted"]
    assert episode_feeds(db_path) == {"https://example.org/ep/1": first}
    server.routes["/b.xml"] = [respond(payload)]
    code, out, _ = cli("run", "--format", "json")
    assert code == 0 and json.loads(out)["downloaded"] == 2
    assert episode_feeds(db_path) == {"https://example.org/ep/1": first,
                                      "https://example.org/ep/2": second}
