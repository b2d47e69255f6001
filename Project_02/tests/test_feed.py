"""The feed: fetched conditionally within a deadline, parsed from real feeds, hand-made ones and
Hypothesis's, into episodes with safe file names and stable keys."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from podcast_reliability_kit import conditional, silent, trickle
from podcast_testkit import (FEED_ITEMS, REAL_FEEDS, FaultServer, feed_item_xml, make_feed,
                             make_item, only, respond)

from podcasts import feed, http_client
from podcasts.errors import FeedError
from podcasts.feed import (enclosure_problem, episode_filename, get_episodes, html_to_text,
                           parse_feed)
from podcasts.http_client import FeedValidators, fetch_feed, make_session
from podcasts.storage import create_table, load_episodes, newest_episodes


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "episodes", "first_title_start"),
    [
        ("marketplace.rss", 50, "Happy New Year"),
        ("test_xml_planet_money.xml", 349, "Opening Schools"),  # 6 video/mpeg items skipped
        ("Darknet Diaries.rss", 136, "134: Deviant"),
        ("Hard Fork.rss", 34, "A.I.'s Inner Conflict"),
        ("itunes-missing-image.rss", 130, "Taverncast 62"),  # one guid repeats
    ],
)
def test_real_feeds_parse(name: str, episodes: int, first_title_start: str) -> None:
    """Every real feed parses, including a blank line before <?xml and mixed audio types."""
    path = REAL_FEEDS / name
    if not path.is_file():
        pytest.skip(f"real feed not found at {path}")
    parsed = parse_feed(path.read_bytes())
    assert len(parsed) == episodes
    assert parsed[0].title.startswith(first_title_start)
    assert len({e.link for e in parsed}) == len({e.filename for e in parsed}) == episodes
    assert all(e.published and e.published.endswith("+00:00") for e in parsed)


def test_single_item_is_not_a_list_but_still_parses() -> None:
    """xmltodict gives a dict for one <item>; it still yields one episode."""
    episode = only(parse_feed(make_feed([make_item(1, "http://h/a.mp3")])))
    assert episode.link == "https://example.org/ep/1"
    assert episode.published == "2024-01-01T08:00:00+00:00"
    assert episode.description == "Show 1 & more"


def test_missing_optional_fields_are_none() -> None:
    """No title, link, date or description: the guid or URL keys the episode."""
    episode = only(parse_feed(make_feed(['<enclosure url="http://h/x.mp3" type="audio/mpeg"/>'])))
    assert episode.link == "http://h/x.mp3"
    assert (episode.title, episode.published, episode.description) == (None, None, None)
    assert episode.filename.startswith("episode-") and episode.filename.endswith(".mp3")


def test_non_audio_enclosures_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A video enclosure, or none at all, is not an episode to download."""
    items = [make_item(1, "http://h/v.mp4", kind="video/mpeg"), "<title>No media</title>",
             make_item(2, "http://h/a.mp3", kind="x-audio/mp3")]
    assert [e.title for e in parse_feed(make_feed(items))] == ["Episode 2"]
    assert "Skipping 'Episode 1': no audio enclosure (found ['video/mpeg'])" in caplog.text


def test_blank_line_before_xml_declaration() -> None:
    """Real feeds start with a newline; strict parsers reject that, we strip it."""
    assert len(parse_feed(make_feed([make_item(1, "http://h/a.mp3")], preamble="\n\n"))) == 1


def test_shared_home_page_link_falls_back_to_guid() -> None:
    """When every item repeats the show's home page as <link>, the guid keys each episode."""
    items = [make_item(n, f"http://h/{n}.mp3").replace(f"https://example.org/ep/{n}",
                                                        "https://example.org/") for n in (1, 2)]
    assert [e.link for e in parse_feed(make_feed(items))] == ["ep-1", "ep-2"]


def test_billion_laughs_is_refused_fast() -> None:
    """An entity-expansion payload is refused in well under a second."""
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    payload = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{entities}]>'
               "<rss><channel><item><title>&l9;</title></item></channel></rss>").encode()
    started = time.perf_counter()
    with pytest.raises(FeedError, match="refused"):
        parse_feed(payload)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"not xml at all <", "not well-formed"), (b"<html><body/></html>", "no <rss><channel>"),
     (b"", "not well-formed")],
)
def test_bad_documents_raise_feed_error(payload: bytes, message: str) -> None:
    """Anything but an RSS document is a FeedError that says why."""
    with pytest.raises(FeedError, match=message):
        parse_feed(payload)


def test_html_to_text() -> None:
    """Tags go, entities are decoded, white space collapses."""
    assert html_to_text("<p>A &amp; B</p>\n<br/> <i>c</i>") == "A & B c"


@pytest.mark.parametrize("url", ["http://h/../../etc/passwd", "http://h/a/..%2F..%2Fx.sh",
                                 "http://h/ep.MP3?x=1"])
def test_episode_filename_is_safe_and_unique(url: str) -> None:
    """Only a slug, a hash and an audio suffix: nothing from the URL's path can escape."""
    name = episode_filename("link-1", "../../Evil / Title", url)
    assert "/" not in name and not name.startswith(".") and name.startswith("evil-title-")
    assert name != episode_filename("link-2", "../../Evil / Title", url)
    assert Path(name).suffix in {".mp3"}


def test_fetch_feed_retries_then_fails_with_feed_error(server: FaultServer) -> None:
    """A 503 is retried; a 404 ends with a FeedError naming the URL."""
    server.routes["/flaky.xml"] = [respond(b"busy", status=503), respond(b"<rss/>")]
    assert fetch_feed(server.url("/flaky.xml"), make_session(backoff=0)).payload == b"<rss/>"
    with pytest.raises(FeedError, match="could not fetch feed .*/missing.xml"):
        fetch_feed(server.url("/missing.xml"), make_session(backoff=0))


def test_oversized_feed_is_refused_while_reading(server: FaultServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit stops the read as soon as it is passed, not after the whole body arrived."""
    monkeypatch.setattr(http_client, "MAX_FEED_BYTES", 100_000)

    def stall_after_200k(handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "400000")
        handler.end_headers()
        handler.wfile.write(b" " * 200_000)
        handler.wfile.flush()
        time.sleep(5)  # a reader that buffers everything waits here
        try:
            handler.wfile.write(b" " * 200_000)
        except (BrokenPipeError, ConnectionResetError):
            pass

    server.routes["/huge.xml"] = [stall_after_200k]
    started = time.perf_counter()
    with pytest.raises(FeedError, match="larger than 100000 bytes"):
        fetch_feed(server.url("/huge.xml"), make_session(backoff=0))
    assert time.perf_counter() - started < 3


def test_conditional_get_304_means_nothing_new_and_nothing_parsed(
        server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The validators of the first fetch are sent back; the 304 answer is not parsed."""
    seen: list[dict] = []
    server.routes["/feed.xml"] = [conditional(make_feed([make_item(1, "http://h/a.mp3")]),
                                              seen=seen)]
    first = get_episodes(server.url("/feed.xml"))
    assert len(first.episodes) == 1
    assert first.validators == FeedValidators('"feed-1"', "Mon, 01 Jan 2024 08:00:00 GMT")

    def must_not_parse(_payload: bytes) -> None:
        raise AssertionError("a 304 answer was parsed")

    monkeypatch.setattr(feed, "parse_feed", must_not_parse)
    second = get_episodes(server.url("/feed.xml"), validators=first.validators)
    assert second.episodes is None and second.validators == first.validators
    assert seen[1] == {"If-None-Match": '"feed-1"',
                       "If-Modified-Since": "Mon, 01 Jan 2024 08:00:00 GMT"}


def test_changed_feed_is_fetched_whole_despite_old_validators(server: FaultServer) -> None:
    """Validators of an older version get the new document and its new validators."""
    server.routes["/feed.xml"] = [conditional(make_feed([make_item(1, "http://h/a.mp3")]),
                                              etag='"feed-2"')]
    update = get_episodes(server.url("/feed.xml"), validators=FeedValidators('"feed-1"'))
    assert len(update.episodes) == 1 and update.validators.etag == '"feed-2"'


@pytest.mark.slow
def test_host_that_never_answers_fails_within_30_seconds(server: FaultServer) -> None:
    """Connections accepted, no answer: a FeedError within FEED_DEADLINE, default settings."""
    server.routes["/hang.xml"] = [silent(120)]
    started = time.perf_counter()
    with pytest.raises(FeedError, match="no answer in time"):
        fetch_feed(server.url("/hang.xml"))
    assert time.perf_counter() - started < http_client.FEED_DEADLINE


def test_feed_trickling_past_the_deadline_is_abandoned(server: FaultServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A byte now and then keeps read timeouts away; the deadline still ends the fetch."""
    monkeypatch.setattr(http_client, "FEED_DEADLINE", 1.0)
    server.routes["/slow.xml"] = [trickle(make_feed([]) * 20, chunk=64, interval=0.1)]
    started = time.perf_counter()
    with pytest.raises(FeedError, match="did not arrive within 1 s"):
        fetch_feed(server.url("/slow.xml"))
    assert time.perf_counter() - started < 2.5


@pytest.mark.parametrize(("enclosure", "reason"), [
    ('<enclosure url="" type="audio/mpeg"/>', "blank URL"),
    ('<enclosure url="   " type="audio/mpeg"/>', "blank URL"),
    ('<enclosure type="audio/mpeg"/>', "blank URL"),
    ('<enclosure url="ftp://h/a.mp3" type="audio/mpeg"/>', "not http(s)"),
    ('<enclosure url="http:///a.mp3" type="audio/mpeg"/>', "no host"),
])
def test_unusable_enclosure_url_is_kept_with_its_skip_reason(enclosure: str, reason: str) -> None:
    """An episode whose audio cannot be fetched is stored as such, not as a download to retry."""
    item = "<title>T</title><link>https://e/1</link>" + enclosure
    episode = only(parse_feed(make_feed([item])))
    assert reason in episode.skip_reason


def test_a_usable_enclosure_wins_over_a_blank_one() -> None:
    """Two audio enclosures, the first blank: the second is the episode's URL."""
    item = ('<title>T</title><link>https://e/1</link><enclosure url=" " type="audio/mpeg"/>'
            '<enclosure url="http://h/b.mp3" type="audio/mpeg"/>')
    episode = only(parse_feed(make_feed([item])))
    assert (episode.url, episode.skip_reason) == ("http://h/b.mp3", None)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(FEED_ITEMS, max_size=6))
def test_any_items_parse_into_safe_episodes_or_a_feed_error(items: list[dict]) -> None:
    """Every episode has a safe file name, a unique key, and a skip reason iff its URL is bad."""
    try:
        episodes = parse_feed(make_feed([feed_item_xml(item, "http://h/a.mp3") for item in items]))
    except FeedError:
        return  # e.g. a control character XML forbids
    assert len({e.link for e in episodes}) == len(episodes)
    for episode in episodes:
        assert "/" not in episode.filename and not episode.filename.startswith(".")
        assert (episode.skip_reason is None) == (enclosure_problem(episode.url) is None)



@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=300))
def test_any_bytes_parse_or_raise_feed_error(payload: bytes) -> None:
    """Random bytes never escape as anything but a FeedError."""
    try:
        parse_feed(payload)
    except FeedError:
        pass


def test_a_304_to_a_request_without_validators_is_an_error(server: FaultServer) -> None:
    """Nothing was asked conditionally, so "not modified" cannot be true: FeedError, not an
    empty success."""
    server.routes["/feed.xml"] = [respond(b"", status=304)]
    with pytest.raises(FeedError, match="304 Not Modified to a request that named no earlier"):
        get_episodes(server.url("/feed.xml"))


@pytest.mark.parametrize(("url", "kind", "suffix"), [
    ("http://h/play?id=7", "audio/x-m4a", ".m4a"), ("http://h/e.mp3", "audio/mp4", ".m4a"),
    ("http://h/e", "audio/ogg; codecs=opus", ".ogg"), ("http://h/e", "x-audio/mp3", ".mp3"),
    ("http://h/e.flac", "", ".flac"), ("http://h/e.MP3", None, ".mp3"),
    ("http://h/e.wav", "audio/x-wav", ".wav")])
def test_the_file_suffix_follows_the_enclosure_type_before_the_url(
        url: str, kind: str | None, suffix: str) -> None:
    """A URL without a suffix (or a misleading one) does not make an M4A an .mp3."""
    assert episode_filename("https://e/1", "One", url, kind).endswith(suffix)
    item = make_item(1, url, kind=kind or "")
    assert only(parse_feed(make_feed([item]))).filename.endswith(suffix)


def test_an_episode_keeps_its_identity_when_another_item_shares_its_link(db_path: Path) -> None:
    """Episode 1 was stored under its own <link>; a new item now repeats that link (so the feed
    keys both by <guid>): episode 1 is still the stored row, not stored (and downloaded, and
    transcribed) a second time."""
    one = make_item(1, "http://h/1.mp3")
    create_table(db_path)
    assert load_episodes(db_path, parse_feed(make_feed([one]))) == 1
    two = make_item(2, "http://h/2.mp3").replace("https://example.org/ep/2",
                                                 "https://example.org/ep/1")
    assert load_episodes(db_path, parse_feed(make_feed([two, one]))) == 1
    assert sorted(row["link"] for row in newest_episodes(db_path)) == [
        "ep-2", "https://example.org/ep/1"]


def test_an_episode_keeps_its_identity_when_the_shows_website_moves(db_path: Path) -> None:
    """Every <link> changes (the show's site moved; here the guid changes too), the enclosure
    URL and title stay: the same two episodes, not two more stored, downloaded and transcribed
    a second time. A new episode with a new enclosure is still new."""
    create_table(db_path)
    old = [make_item(n, f"http://h/{n}.mp3") for n in (1, 2)]
    assert load_episodes(db_path, parse_feed(make_feed(old))) == 2
    moved = [item.replace("https://example.org/", "https://example.com/").replace(
        "<guid>ep-", "<guid>moved-") for item in old]
    assert load_episodes(db_path, parse_feed(make_feed(moved))) == 0
    assert load_episodes(db_path, parse_feed(make_feed(
        [*moved, make_item(3, "http://h/3.mp3")]))) == 1
    assert sorted(row["link"] for row in newest_episodes(db_path)) == [
        "https://example.org/ep/1", "https://example.org/ep/2", "https://example.org/ep/3"]


def test_a_refused_connection_is_not_called_a_timeout() -> None:
    """urllib3 files a refused connection under its timeouts; the error line must not."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FeedError) as caught:
        fetch_feed(f"http://127.0.0.1:{port}/feed.xml", make_session(retries=0, backoff=0))
    assert "no answer in time" not in str(caught.value)
    assert "refused" in str(caught.value).lower()
