"""youtube_to_tiktok and shopify_to_tiktok against loopback stand-ins for YouTube's Data API and Shopify's GraphQL."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_tiktok.testing.media import make_jpeg, make_mp4, make_png, make_webp
from tests.dag_runner import run_dag
from tests.examples.conftest import CHANNEL_ID, SHOPIFY_TOKEN, YOUTUBE_API_KEY
from tests.examples.local_site import Request, Response


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeYouTube:
    """channels.list, playlistItems.list (2 per page, newest first) and videos.list, API key required."""

    uploads = "UU" + CHANNEL_ID[2:]

    def __init__(self) -> None:
        self.videos = [
            {"id": "vidLive0001", "published": _ago(hours=1), "title": "Live now", "tags": [], "live": "live"},
            {
                "id": "vidNew00001",
                "published": _ago(days=1),
                "title": "Knitting a scarf",
                "tags": ["knitting", "diy wool"],
            },
            {"id": "vidNew00002", "published": _ago(days=2), "title": "Yarn haul", "tags": ["yarn"]},
            {"id": "vidOld00001", "published": _ago(days=30), "title": "Old video", "tags": []},
        ]

    def install(self, site: Any) -> None:
        site.routes[("GET", "/youtube/v3/channels")] = self._guard(self.channels)
        site.routes[("GET", "/youtube/v3/playlistItems")] = self._guard(self.playlist_items)
        site.routes[("GET", "/youtube/v3/videos")] = self._guard(self.video_list)

    @staticmethod
    def _guard(handler: Any) -> Any:
        def guarded(request: Request) -> Response:
            if request.query.get("key") != [YOUTUBE_API_KEY]:
                return Response.json({"error": {"code": 403, "message": "API key not valid"}}, 403)
            return handler(request)

        return guarded

    def channels(self, request: Request) -> Response:
        assert request.query["id"] == [CHANNEL_ID]
        return Response.json(
            {"items": [{"id": CHANNEL_ID, "contentDetails": {"relatedPlaylists": {"uploads": self.uploads}}}]}
        )

    def playlist_items(self, request: Request) -> Response:
        assert request.query["playlistId"] == [self.uploads]
        start = int(request.query.get("pageToken", ["0"])[0])
        page = self.videos[start : start + 2]
        body: dict[str, Any] = {
            "items": [
                {
                    "snippet": {"title": v["title"], "publishedAt": _ago(), "resourceId": {"videoId": v["id"]}},
                    "contentDetails": {"videoId": v["id"], "videoPublishedAt": v["published"]},
                }
                for v in page
            ]
        }
        if start + 2 < len(self.videos):
            body["nextPageToken"] = str(start + 2)
        return Response.json(body)

    def video_list(self, request: Request) -> Response:
        wanted = request.query["id"][0].split(",")
        items = [
            {
                "id": v["id"],
                "snippet": {"title": v["title"], "tags": v["tags"], "liveBroadcastContent": v.get("live", "none")},
            }
            for v in self.videos
            if v["id"] in wanted
        ]
        return Response.json({"items": items})


def test_youtube_uploads_are_cross_posted_from_masters_once(examples, tiktok):
    emulator, _ = tiktok
    FakeYouTube().install(examples.site)
    dag = examples.dags["youtube_to_tiktok"]
    make_mp4(examples.masters_dir / "vidNew00001.mp4", duration_s=7.0, size=150_000, seed=1)
    make_mp4(examples.masters_dir / "vidOld00001.mp4", duration_s=7.0, size=150_000, seed=3)

    first = run_dag(dag, logical_date=datetime(2026, 11, 20, tzinfo=UTC))

    assert first.state == "success", first.states
    [post] = emulator.control.posts()
    assert post["post_info"]["title"] == "Knitting a scarf #fromyoutube #knitting #diywool"
    assert post["post_info"]["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert post["sha256"] == _sha((examples.masters_dir / "vidNew00001.mp4").read_bytes())
    assert not any("search" in path for path in examples.site.paths())

    make_mp4(examples.masters_dir / "vidNew00002.mp4", duration_s=7.0, size=160_000, seed=2)  # the master arrives

    second = run_dag(dag, logical_date=datetime(2026, 11, 21, tzinfo=UTC))
    third = run_dag(dag, logical_date=datetime(2026, 11, 22, tzinfo=UTC))

    assert (second.state, third.state) == ("success", "success")
    titles = sorted(p["post_info"]["title"] for p in emulator.control.posts())
    assert titles == ["Knitting a scarf #fromyoutube #knitting #diywool", "Yarn haul #fromyoutube #yarn"]


class FakeShopify:
    """The GraphQL Admin API's products query: token required, ``created_at:>`` honoured, one product per page."""

    def __init__(self, cdn_url: str) -> None:
        self.products = [
            self._product(
                1,
                "Wool scarf",
                "<p>Soft <b>wool</b>.</p><p>Made in Wales</p>",
                _ago(hours=1),
                cdn_url,
                ["p1-a.jpg", "p1-b.png", "p1-c.webp"],
            ),
            self._product(2, "Sticker pack", "<p>Shiny</p>", _ago(hours=2), cdn_url, ["p2-a.png"]),
            self._product(3, "Old mug", "<p>Old</p>", _ago(days=10), cdn_url, ["p3-a.jpg"]),
        ]
        self.queries: list[str] = []

    @staticmethod
    def _product(n: int, title: str, html: str, created: str, cdn: str, images: list[str]) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/Product/{1000 + n}",
            "legacyResourceId": str(1000 + n),
            "title": title,
            "descriptionHtml": html,
            "createdAt": created,
            "media": {
                "nodes": [{"mediaContentType": "IMAGE", "image": {"url": f"{cdn}{name}?v=1"}} for name in images]
            },
        }

    def graphql(self, request: Request) -> Response:
        if request.headers.get("x-shopify-access-token") != SHOPIFY_TOKEN:
            return Response.json({"errors": "[API] Invalid API key or access token"}, 401)
        body = request.json()
        search = body["variables"]["q"]
        self.queries.append(search)
        since = re.search(r"created_at:>'([^']+)'", search).group(1)
        matching = [p for p in self.products if p["createdAt"] > since]
        start = int(body["variables"].get("after") or 0)
        page = matching[start : start + 1]
        more = start + 1 < len(matching)
        return Response.json(
            {"data": {"products": {"pageInfo": {"hasNextPage": more, "endCursor": str(start + 1)}, "nodes": page}}}
        )


def test_shopify_products_become_photo_carousels_once(examples, tiktok):
    emulator, _ = tiktok
    images = {
        "p1-a.jpg": make_jpeg(1080, 1080),
        "p1-b.png": make_png(800, 800),
        "p1-c.webp": make_webp(1080, 1350),
        "p2-a.png": make_png(500, 500),
        "p3-a.jpg": make_jpeg(600, 600),
    }
    for name, data in images.items():
        (examples.cdn_dir / name).write_bytes(data)
    shop = FakeShopify(f"{examples.site.url}/cdn/")
    examples.site.routes[("POST", "/admin/api/2026-10/graphql.json")] = shop.graphql
    dag = examples.dags["shopify_to_tiktok"]

    first = run_dag(dag, logical_date=datetime(2026, 11, 20, tzinfo=UTC))

    assert first.state == "success", first.states
    [post] = emulator.control.posts()
    assert post["media_type"] == "PHOTO"
    assert [i["sha256"] for i in post["images"]] == [_sha(images["p1-a.jpg"]), _sha(images["p1-c.webp"])]
    assert post["post_info"]["title"] == "Wool scarf"
    assert post["post_info"]["description"] == "Soft wool.\nMade in Wales"
    assert all("status:active" in q for q in shop.queries)
    fetched_from_tiktok = [p for p in examples.site.paths() if p.startswith("/media/")]
    assert fetched_from_tiktok == ["/media/shopify/1001/00.jpg", "/media/shopify/1001/01.webp"]

    second = run_dag(dag, logical_date=datetime(2026, 11, 21, tzinfo=UTC))

    assert second.state == "success", second.states
    assert len(emulator.control.posts()) == 1
