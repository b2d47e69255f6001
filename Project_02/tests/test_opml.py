"""OPML: ``import-opml`` reads gPodder's, AntennaPod's and folder-nested exports in one
transaction (all or nothing), ``export-opml`` writes what they import, and a round trip keeps
every subscription."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podcast_reliability_kit import error_lines

from podcast_pipeline import main
from podcasts.arguments import http_url
from podcasts.errors import OpmlError
from podcasts.opml import opml_document, read_opml

DATA = Path(__file__).resolve().parent / "data"
MARKETPLACE = "https://www.marketplace.org/feed/podcast/marketplace/"
HARD_FORK = "https://feeds.simplecast.com/l2i9YnTd"
PLANET_MONEY = "https://feeds.npr.org/510289/podcast.xml"


@pytest.fixture(name="cli")
def fixture_cli(capsys: pytest.CaptureFixture):
    """Run a command in-process; return (exit code, stdout, stderr)."""
    def cli(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return cli


def subscriptions(cli, db_path: Path) -> dict[str, str | None]:
    """The subscribed feeds and their titles."""
    code, out, _ = cli("feeds", "--db-path", str(db_path), "--format", "json")
    assert code == 0
    return {feed["url"]: feed["title"] for feed in json.loads(out) if feed["subscribed"]}


def test_gpodder_export_imports_with_titles() -> None:
    """gPodder puts the title in ``title`` and the description in ``text``: the title wins."""
    found = read_opml(DATA / "gpodder.opml")
    assert [(f.url, f.title) for f in found.feeds] == [
        (MARKETPLACE, "Marketplace"), (HARD_FORK, "Hard Fork"),
        ("https://feeds.megaphone.fm/darknetdiaries", "Darknet Diaries")]
    assert not found.skipped


def test_antennapod_export_imports() -> None:
    """AntennaPod's export (single-quoted declaration, htmlUrl beside xmlUrl)."""
    found = read_opml(DATA / "antennapod.opml")
    assert [f.title for f in found.feeds] == ["Planet Money", "Hard Fork", "Taverncast"]
    assert found.feeds[2].url == "http://taverncast.com/taverncast.xml"


def test_nested_folders_duplicates_and_unusable_outlines() -> None:
    """Feeds in folders at any depth, in document order; a URL listed twice imported once; a
    note and a file:// URL skipped with their reasons; folders are not skipped."""
    found = read_opml(DATA / "nested.opml")
    assert [(f.url, f.title) for f in found.feeds] == [
        (MARKETPLACE, "Marketplace"), (PLANET_MONEY, "Planet Money"), (HARD_FORK, "Hard Fork")]
    assert found.skipped == ["A note to self: no xmlUrl", "Local file: xmlUrl "
                             "'file:///home/me/podcast.xml' is not http(s)"]


def test_import_merges_with_existing_subscriptions(cli, db_path: Path) -> None:
    """Two exports sharing Hard Fork: five subscriptions; importing again adds none."""
    assert cli("subscribe", HARD_FORK, "--db-path", str(db_path))[0] == 0
    code, out, _ = cli("import-opml", str(DATA / "gpodder.opml"), "--db-path", str(db_path))
    assert (code, out) == (0, f"Imported {DATA / 'gpodder.opml'}: 3 feeds, 2 new, "
                              "1 already subscribed, 0 skipped\n")
    code, out, _ = cli("import-opml", str(DATA / "antennapod.opml"), "--db-path", str(db_path),
                       "--format", "json")
    assert code == 0 and json.loads(out) == {"feeds": 3, "new": 2, "already_subscribed": 1,
                                             "skipped": []}
    assert len(subscriptions(cli, db_path)) == 5
    assert json.loads(cli("import-opml", str(DATA / "antennapod.opml"), "--db-path",
                          str(db_path), "--format", "json")[1])["new"] == 0


def test_import_lists_what_it_skipped(cli, db_path: Path) -> None:
    """The table names each skipped outline and why."""
    code, out, _ = cli("import-opml", str(DATA / "nested.opml"), "--db-path", str(db_path))
    assert code == 0 and out.splitlines()[1:] == [
        "  skipped A note to self: no xmlUrl",
        "  skipped Local file: xmlUrl 'file:///home/me/podcast.xml' is not http(s)"]


def test_export_then_import_into_a_new_database_gives_the_same_subscriptions(
        cli, tmp_path: Path) -> None:
    """Round trip through a file: same URLs, same titles (an untitled feed stays untitled),
    and an unsubscribed feed is not exported."""
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    cli("import-opml", str(DATA / "nested.opml"), "--db-path", str(first))
    cli("subscribe", "http://127.0.0.1:9/untitled.xml?a=1&b=2", "--db-path", str(first))
    cli("subscribe", "http://127.0.0.1:9/gone.xml", "--db-path", str(first))
    cli("unsubscribe", "http://127.0.0.1:9/gone.xml", "--db-path", str(first))
    exported = tmp_path / "out" / "subscriptions.opml"
    code, out, err = cli("export-opml", str(exported), "--db-path", str(first))
    assert (code, out) == (0, "") and "Wrote 4 subscriptions to" in err
    assert cli("import-opml", str(exported), "--db-path", str(second))[0] == 0
    assert subscriptions(cli, second) == subscriptions(cli, first) == {
        MARKETPLACE: "Marketplace", PLANET_MONEY: "Planet Money", HARD_FORK: "Hard Fork",
        "http://127.0.0.1:9/untitled.xml?a=1&b=2": None}
    assert list(exported.parent.iterdir()) == [exported]


def test_export_to_stdout_is_opml_2(cli, db_path: Path) -> None:
    """Standard output carries the document itself (for a pipe), with type="rss" outlines."""
    cli("import-opml", str(DATA / "gpodder.opml"), "--db-path", str(db_path))
    code, out, _ = cli("export-opml", "--db-path", str(db_path))
    assert code == 0
    assert out.startswith('<?xml version="1.0" encoding="utf-8"?>\n<opml version="2.0">')
    assert f'<outline type="rss" text="Hard Fork" title="Hard Fork" xmlUrl="{HARD_FORK}">' in out


def test_export_of_an_empty_or_missing_database_is_an_empty_body(cli, db_path: Path) -> None:
    """Nothing subscribed: a valid document that lists nothing; no database created."""
    code, out, _ = cli("export-opml", "--db-path", str(db_path))
    assert code == 0 and "<body></body>" in out and not db_path.exists()


def test_export_to_a_folder_or_over_the_database_is_refused(cli, tmp_path: Path,
                                                            db_path: Path) -> None:
    """A usage error before anything is written: the database is never replaced by OPML."""
    cli("import-opml", str(DATA / "gpodder.opml"), "--db-path", str(db_path))
    before = db_path.read_bytes()
    folder = tmp_path / "folder"
    folder.mkdir()
    for target, reason in ((folder, "is a folder"), (db_path, "would replace the database"),
                           (Path(f"{db_path}.lock"), "would replace the database")):
        code, _, err = cli("export-opml", str(target), "--db-path", str(db_path))
        assert code == 2 and reason in error_lines(err)[0]
    assert not list(folder.iterdir()) and db_path.read_bytes() == before


def test_export_into_a_missing_folder_creates_it(cli, tmp_path: Path, db_path: Path) -> None:
    """The file's folder is made; nothing but the file is left in it."""
    cli("subscribe", "http://127.0.0.1:9/a.xml", "--db-path", str(db_path))
    target = tmp_path / "new" / "deeper" / "subscriptions.opml"
    assert cli("export-opml", str(target), "--db-path", str(db_path))[0] == 0
    assert [path.name for path in target.parent.iterdir()] == ["subscriptions.opml"]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is not well-formed XML"),
    (b"<opml version='2.0'><body><outline text='x' xmlUrl='http://h/f'", "not well-formed XML"),
    (b"\xff\xfe\x00garbage", "not well-formed XML"),
    (b"<?xml version='1.0'?><rss><channel><title>x</title></channel></rss>",
     "is not OPML: its root element is <rss>, not <opml>"),
    (b"<?xml version='1.0'?><!DOCTYPE opml [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;'>]>"
     b"<opml><body><outline text='&b;' xmlUrl='http://h/f'/></body></opml>", "refused"),
    (b"<opml version='2.0'><head/><body/></opml>", "lists no http(s) feed"),
    (b"<opml version='2.0'><body><outline text='Local' xmlUrl='file:///etc/passwd'/>"
     b"<outline text='Note'/></body></opml>",
     "lists no http(s) feed (no <outline> with an xmlUrl) (2 outlines skipped, e.g. Local: "),
])
def test_unreadable_opml_is_one_error_line_and_imports_nothing(
        cli, tmp_path: Path, db_path: Path, content: bytes, message: str) -> None:
    """Empty, truncated, binary, RSS instead of OPML, an entity bomb, nothing usable: exit 1
    with the reason; the database is not created."""
    path = tmp_path / "subscriptions.opml"
    path.write_bytes(content)
    code, out, err = cli("import-opml", str(path), "--db-path", str(db_path))
    assert (code, out) == (1, "")
    (line,) = error_lines(err)
    assert line.startswith(f"error: {path} ") and message in line
    assert not db_path.exists()


def test_missing_file_is_one_error_line(cli, tmp_path: Path) -> None:
    """An OSError at the boundary: exit 1 naming the file."""
    code, _, err = cli("import-opml", str(tmp_path / "nope.opml"))
    assert code == 1 and "nope.opml" in error_lines(err)[0]


def test_import_into_a_damaged_database_changes_nothing(cli, db_path: Path) -> None:
    """All or nothing: the database cannot be read, so it is left byte for byte."""
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"not a database" * 100)
    code, _, err = cli("import-opml", str(DATA / "gpodder.opml"), "--db-path", str(db_path))
    assert code == 1 and error_lines(err) == [
        f"error: database {db_path}: file is not a database"]
    assert db_path.read_bytes() == b"not a database" * 100


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    """A file over MAX_OPML_BYTES is not read whole."""
    path = tmp_path / "huge.opml"
    with open(path, "wb") as handle:
        handle.truncate(11 * 1024 * 1024)
    with pytest.raises(OpmlError, match="larger than"):
        read_opml(path)


def test_document_escapes_what_xml_needs(tmp_path: Path) -> None:
    """Ampersands, quotes and angle brackets in a title or URL survive a round trip."""
    feeds = [{"url": "http://h/f?a=1&b=\"2\"", "title": "Tom & Jerry's <show>"}]
    path = tmp_path / "escaped.opml"
    path.write_bytes(opml_document(feeds))
    assert b"<show>" not in path.read_bytes()
    assert [(f.url, f.title) for f in read_opml(path).feeds] == [
        ("http://h/f?a=1&b=\"2\"", "Tom & Jerry's <show>")]


def spelling(url: str) -> str | None:
    """The one spelling of ``url`` that is stored (None for what is not an http(s) URL)."""
    try:
        return http_url(url)
    except argparse.ArgumentTypeError:
        return None


def test_app_schemes_and_spellings_of_one_feed_import_once(tmp_path: Path) -> None:
    """``feed://``, ``itpc://``, ``pcast://`` and ``feed:https://`` (what podcast apps write)
    are http(s) feeds; one feed written with an upper-case host, its default port or a
    ``#fragment`` is one subscription, not three (each was subscribed and fetched on its own)."""
    path = tmp_path / "apps.opml"
    path.write_bytes(opml_document([]).replace(b"<body></body>", b"""<body>
      <outline text="A" xmlUrl="feed://example.org/a.xml"/>
      <outline text="A again" xmlUrl="HTTP://Example.ORG:80/a.xml#latest"/>
      <outline text="B" xmlUrl="itpc://example.org/B.xml"/>
      <outline text="C" xmlUrl="feed:https://example.org:443/c.xml"/>
      <outline text="D" xmlUrl="pcast://example.org"/>
      <outline text="E" xmlUrl="itms://itunes.apple.com/podcast/id1"/></body>"""))
    found = read_opml(path)
    assert [(f.url, f.title) for f in found.feeds] == [
        ("http://example.org/a.xml", "A"), ("http://example.org/B.xml", "B"),
        ("https://example.org/c.xml", "C"), ("http://example.org/", "D")]
    assert found.skipped == ["E: xmlUrl 'itms://itunes.apple.com/podcast/id1' is not http(s)"]


OUTLINE = st.fixed_dictionaries({}, optional={
    "text": st.text(max_size=20), "title": st.text(max_size=20), "type": st.just("rss"),
    "xmlUrl": st.one_of(st.text(max_size=30), st.just("http://h/feed.xml"),
                        st.just("https://h/a?b=1&c=2"), st.just("http://[::1"),
                        st.just("javascript:alert(1)"))})


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outlines=st.lists(OUTLINE, max_size=6), depth=st.integers(0, 3))
def test_any_outlines_import_as_http_feeds_or_fail_cleanly(tmp_path: Path, outlines: list[dict],
                                                           depth: int) -> None:
    """Arbitrary outlines (any text, any URL), nested at any depth: every imported feed is an
    http(s) URL the file lists, or the file is refused with OpmlError, never anything else."""
    document = opml_document([])
    body = "".join("<outline " + " ".join(f'{key}="{escape(value, {chr(34): "&quot;"})}"'
                                          for key, value in outline.items()) + "/>"
                   for outline in outlines)
    body = "<outline text='folder'>" * depth + body + "</outline>" * depth
    path = tmp_path / "fuzz.opml"
    path.write_bytes(document.replace(b"<body></body>", f"<body>{body}</body>".encode()))
    try:
        found = read_opml(path)
    except OpmlError:
        return
    listed = {outline.get("xmlUrl", "").strip() for outline in outlines}
    listed |= {spelling(url) for url in listed}
    assert all(feed.url in listed and feed.url.startswith(("http://", "https://"))
               for feed in found.feeds)
    assert len({feed.url for feed in found.feeds}) == len(found.feeds)


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_as_opml_error(payload: bytes) -> None:
    """Random bytes never escape as anything but OpmlError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.opml"
        path.write_bytes(payload)
        with pytest.raises(OpmlError):
            read_opml(path)
