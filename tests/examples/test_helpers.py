"""The examples' pure logic: calendar parsing, keys, cap planning; caption adaptation; feed and product parsing."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

from airflow_provider_tiktok.api.rules import utf16_len
from airflow_provider_tiktok.demo.youtube_feed import feed_entries, seen_variable_key, unseen
from tests.examples.conftest import DAGS_FOLDER


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", DAGS_FOLDER / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def calendar() -> ModuleType:
    return _load("tiktok_content_calendar")


@pytest.fixture(scope="module")
def youtube() -> ModuleType:
    return _load("youtube_to_tiktok")


@pytest.fixture(scope="module")
def shopify() -> ModuleType:
    return _load("shopify_to_tiktok")


ROW = {
    "account": "tiktok_default",
    "time": "2026-11-20T17:00:00+01:00",
    "media": "a.mp4",
    "caption": "Hi",
    "privacy": "SELF_ONLY",
}


def test_csv_and_json_calendars_read_the_same(calendar, tmp_path):
    (tmp_path / "c.csv").write_text("account,time,media,caption,privacy\n" + ",".join(ROW.values()) + "\n")
    (tmp_path / "c.json").write_text(json.dumps({"posts": [ROW]}))

    assert calendar.read_calendar(tmp_path / "c.csv") == calendar.read_calendar(tmp_path / "c.json") == [ROW]


def test_row_key_survives_caption_edits_but_not_a_new_time_or_media(calendar):
    key = calendar.row_key(ROW)

    assert calendar.row_key({**ROW, "caption": "Fixed typo"}) == key
    assert calendar.row_key({**ROW, "time": "2026-11-20T16:00:00Z"}) == key  # same instant, other notation
    assert calendar.row_key({**ROW, "time": "2026-11-21T16:00:00Z"}) != key
    assert calendar.row_key({**ROW, "media": "b.mp4"}) != key
    assert calendar.row_key({**ROW, "id": "launch"}) == "id:launch"


def test_times_without_offset_are_utc(calendar):
    assert calendar.parse_time("2026-11-20T17:00:00") == datetime(2026, 11, 20, 17, tzinfo=UTC)


def test_invalid_rows_fail_the_whole_calendar_with_every_problem(calendar, tmp_path):
    rows = [
        {**ROW, "account": "tiktok_unknown"},
        {**ROW, "privacy": "EVERYONE"},
        {**ROW, "caption": "😀" * 1101},  # 2202 UTF-16 units
        {**ROW, "time": "tomorrow"},
        {**ROW, "media": ""},
    ]

    with pytest.raises(ValueError) as err:
        calendar.normalise_rows(rows, accounts=["tiktok_default"], base_dir=tmp_path)

    message = str(err.value)
    for expected in (
        "entry 1: account",
        "entry 2: privacy",
        "entry 3: caption",
        "entry 4: time",
        "entry 5: missing media",
    ):
        assert expected in message


def test_media_paths_resolve_against_the_calendar_and_expand_variables(calendar, tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPS", str(tmp_path / "clips"))
    rows = calendar.normalise_rows(
        [{**ROW, "media": "a.mp4"}, {**ROW, "media": "$CLIPS/b.mp4"}, {**ROW, "media": "https://m.example.com/c.mp4"}],
        accounts=["tiktok_default"],
        base_dir=tmp_path,
    )

    assert [r["media"] for r in rows] == [
        str(tmp_path / "a.mp4"),
        str(tmp_path / "clips/b.mp4"),
        "https://m.example.com/c.mp4",
    ]
    kwargs = [calendar.publish_kwargs(r, datetime(2026, 11, 20, tzinfo=UTC)) for r in rows]
    assert ("video" in kwargs[0], "video_url" in kwargs[2]) == (True, True)
    assert kwargs[0]["privacy_level"] == "SELF_ONLY" and kwargs[0]["title"] == "Hi"


def _rows(calendar, times: list[datetime], account: str = "a") -> list[dict]:
    return [
        {
            "key": f"k{n}",
            "account": account,
            "time": t.isoformat(),
            "media": f"{n}.mp4",
            "caption": "",
            "privacy": "SELF_ONLY",
        }
        for n, t in enumerate(times)
    ]


def test_plan_takes_due_rows_oldest_first_up_to_the_rolling_cap(calendar):
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = _rows(calendar, [now - timedelta(hours=h) for h in (1, 5, 3, 2)] + [now + timedelta(minutes=1)])
    rows += _rows(calendar, [now - timedelta(hours=1)], account="b")
    ledger = {"k1": {"published_at": (now - timedelta(hours=23)).isoformat()}}  # still inside the 24 h window

    chosen, report = calendar.plan_account(rows, "a", ledger.get, now=now, daily_cap=3)

    assert [r["key"] for r in chosen] == ["k2", "k3"]  # k1 counts against the cap; oldest first
    assert report == {"published_before": ["k1"], "not_due": ["k4"], "waiting_for_cap": ["k0"]}


def test_posts_older_than_24_hours_free_the_cap(calendar):
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    rows = _rows(calendar, [now - timedelta(hours=30), now - timedelta(hours=1)])
    ledger = {"k0": {"published_at": (now - timedelta(hours=24, seconds=1)).isoformat()}}

    chosen, _ = calendar.plan_account(rows, "a", ledger.get, now=now, daily_cap=1)

    assert [r["key"] for r in chosen] == ["k1"]


def test_caption_is_title_plus_whole_hashtags(youtube):
    caption = youtube.adapt_caption("Knitting 101", ["knitting", "diy wool", "Knitting", "#already"], "#fromyoutube")

    assert caption == "Knitting 101 #fromyoutube #knitting #diywool #already"


def test_caption_fits_in_2200_utf16_units_without_cutting_a_hashtag(youtube):
    title = "😀" * 1000 + "x" * 190  # 2190 units
    caption = youtube.adapt_caption(title, ["short", "muchlongertag"])

    assert utf16_len(caption) <= 2200
    assert caption.endswith(" #short")

    long = youtube.adapt_caption("😀" * 1200, ["tag"])
    assert utf16_len(long) <= 2200 and long.endswith("…") and "\ud83d" not in long


def test_only_uploads_after_the_cutoff_count(youtube):
    since = datetime(2026, 11, 10, tzinfo=UTC)
    items = [
        {"contentDetails": {"videoId": "new", "videoPublishedAt": "2026-11-12T00:00:00Z"}},
        {"contentDetails": {"videoId": "old", "videoPublishedAt": "2026-11-01T00:00:00Z"}},
        # added to the playlist late, but published long ago: videoPublishedAt wins over snippet.publishedAt
        {
            "snippet": {"publishedAt": "2026-11-12T00:00:00Z"},
            "contentDetails": {"videoId": "re", "videoPublishedAt": "2026-01-01T00:00:00Z"},
        },
    ]

    assert [v["video_id"] for v in youtube.new_uploads(items, since=since)] == ["new"]


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/"
      xmlns="http://www.w3.org/2005/Atom">
  <title>Channel</title>
  <entry><yt:videoId>vid2</yt:videoId><yt:channelId>UCabc</yt:channelId><title>Second</title>
    <published>2026-11-20T10:00:00+00:00</published>
    <media:group><media:title>Second</media:title><media:description>More yarn</media:description></media:group></entry>
  <entry><yt:videoId>vid1</yt:videoId><yt:channelId>UCabc</yt:channelId><title>First</title>
    <published>2026-11-19T10:00:00+00:00</published></entry>
</feed>"""


def test_feed_entries_and_the_edge_triggered_unseen_check():
    entries = feed_entries(FEED)

    assert [(e["video_id"], e["title"], e["description"]) for e in entries] == [
        ("vid2", "Second", "More yarn"),
        ("vid1", "First", ""),
    ]
    assert unseen(entries, []) == ["vid2", "vid1"]
    assert unseen(entries, ["vid1"]) == ["vid2"]
    assert unseen(entries, ["vid1", "vid2"]) == []
    assert seen_variable_key(entries[0]["channel_id"]) == "youtube_feed_seen__UCabc"


def test_product_text_and_photos(shopify):
    assert (
        shopify.html_to_text("<p>Soft <b>wool</b>.</p><ul><li>Warm</li><li>Light</li></ul>")
        == "Soft wool.\nWarm\nLight"
    )
    assert shopify.trim_words("Merino wool scarf", 12) == "Merino…"
    assert utf16_len(shopify.trim_words("word " * 2000, 4000)) <= 4000
    product = {
        "id": "gid://shopify/Product/7",
        "media": {
            "nodes": [
                {"mediaContentType": "IMAGE", "image": {"url": f"https://cdn.example.com/{n}.jpg?v=2"}}
                for n in range(40)
            ]
            + [
                {"mediaContentType": "IMAGE", "image": {"url": "https://cdn.example.com/x.png"}},
                {"mediaContentType": "VIDEO"},
            ]
        },
    }

    keep, skipped = shopify.photo_urls(product)

    assert len(keep) == 35 and keep[0] == "https://cdn.example.com/0.jpg?v=2"
    assert len(skipped) == 6 and "https://cdn.example.com/x.png" in skipped
    assert shopify.product_key(product) == "7"
