"""Post each new Shopify product to TikTok as a photo carousel, once.

What it shows:

* **Detecting new products through the http provider**: ``HttpHook`` on connection ``shopify_admin`` (host
  ``https://<shop>.myshopify.com``, password = Admin API access token, sent as ``X-Shopify-Access-Token``) posts the
  GraphQL Admin API query ``products(query: "created_at:>'...' AND status:active", sortKey: CREATED_AT)`` to
  ``/admin/api/<version>/graphql.json`` (version pinned in ``SHOPIFY_API_VERSION``), following ``pageInfo``.
  The window is ``lookback_hours`` wide; the ledger, not the window, guarantees nothing is posted twice.
* **Photos TikTok accepts**: TikTok pulls carousel images itself, only from URL prefixes verified for your app
  (never ``cdn.shopify.com``), only JPEG or WebP, at most 35. So the product's JPEG/WebP images are copied to your
  verified media store (``TIKTOK_MEDIA_BASE``, an ``ObjectStoragePath`` such as ``s3://brand-media/tiktok/``, served
  publicly at ``TIKTOK_MEDIA_PUBLIC_URL``); other formats (PNG, GIF) are skipped with a log line (convert them in your
  shop, or add a conversion step with Pillow).
* **Caption**: the product title (TikTok allows 90 UTF-16 units for a photo title) and the description as plain text
  (4000 units), trimmed on word boundaries.
* **Airflow 3 triggering**: ``AssetOrTimeSchedule`` runs hourly *and* whenever the asset
  ``shopify://<shop>/products`` gets an event. Shopify cannot call Airflow itself, so a small relay that receives
  the ``products/create`` webhook (verify ``X-Shopify-Hmac-SHA256``, dedupe on ``X-Shopify-Webhook-Id``) calls
  Airflow's REST API::

      curl -X POST "$AIRFLOW/api/v2/assets/events" -H "Authorization: Bearer $JWT" \\
           -H 'Content-Type: application/json' -d '{"asset_id": <id of shopify://.../products>, "extra": {}}'

  (``GET /api/v2/assets`` lists the ids; unpause the DAG first, asset events do not queue runs of paused DAGs.)
* **Exactly once**: each product id is the carousel's ``idempotency_key``, so the provider's ledger (durable across
  re-runs, clears and backfills) posts it at most once; this DAG also leaves out products the ledger already holds.

Settings (environment, read at parse time): ``SHOPIFY_SHOP`` (for the asset name), ``SHOPIFY_API_VERSION``,
``TIKTOK_MEDIA_BASE``, ``TIKTOK_MEDIA_PUBLIC_URL``, ``TIKTOK_CONN_ID``, ``TIKTOK_PRIVACY_LEVEL`` (default
``SELF_ONLY``).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, ObjectStoragePath, Param, dag, task

from airflow_provider_tiktok.api.rules import PHOTO_DESCRIPTION_MAX, PHOTO_TITLE_MAX, PHOTOS_MAX, utf16_len
from airflow_provider_tiktok.assets import published_posts
from airflow_provider_tiktok.operators.tiktok import TikTokPhotoPostOperator
from airflow_provider_tiktok.publishing.ledger import entry_for

SHOP = os.environ.get("SHOPIFY_SHOP", "your-shop")
API_VERSION = os.environ.get("SHOPIFY_API_VERSION", "2026-10")
MEDIA_BASE = os.environ.get("TIKTOK_MEDIA_BASE", "file:///srv/tiktok-media/")
MEDIA_PUBLIC_URL = os.environ.get("TIKTOK_MEDIA_PUBLIC_URL", "https://media.example.com/tiktok/")
TIKTOK_CONN_ID = os.environ.get("TIKTOK_CONN_ID", "tiktok_default")
PRIVACY_LEVEL = os.environ.get("TIKTOK_PRIVACY_LEVEL", "SELF_ONLY")
SHOPIFY_CONN_ID = "shopify_admin"

PRODUCTS = Asset(name=f"shopify_products_{SHOP}", uri=f"shopify://{SHOP}/products")
PHOTO_TYPES = {".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}

PRODUCTS_QUERY = """
query NewProducts($q: String!, $after: String) {
  products(first: 50, after: $after, query: $q, sortKey: CREATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id legacyResourceId title descriptionHtml createdAt
      media(first: 50) { nodes { mediaContentType ... on MediaImage { image { url } } } }
    }
  }
}
"""


# --- pure helpers (unit-tested) ---------------------------------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("p", "br", "li", "div"):
            self.parts.append("\n")


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html or "")
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def trim_words(text: str, limit: int) -> str:
    """At most ``limit`` UTF-16 units, cut at a word boundary with an ellipsis when it had to be cut."""
    if utf16_len(text) <= limit:
        return text
    cut = text
    while utf16_len(cut) > limit - 1:
        cut = cut[:-1]
    if " " in cut.strip():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…"


def photo_urls(product: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(JPEG/WebP image URLs, at most 35; skipped URLs) of a product, in the shop's order."""
    keep, skipped = [], []
    for node in product.get("media", {}).get("nodes", []):
        url = (node.get("image") or {}).get("url")
        if node.get("mediaContentType") != "IMAGE" or not url:
            continue
        ext = os.path.splitext(urlsplit(url).path)[1].lower()
        (keep if ext in PHOTO_TYPES and len(keep) < PHOTOS_MAX else skipped).append(url)
    return keep, skipped


def product_key(product: dict[str, Any]) -> str:
    return str(product.get("legacyResourceId") or product["id"].rsplit("/", 1)[-1])


@dag(
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"), assets=[PRODUCTS]),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["tiktok", "shopify", "example"],
    params={"lookback_hours": Param(72, type="integer", minimum=1, description="How far back to look for products")},
    doc_md=__doc__,
)
def shopify_to_tiktok() -> None:
    @task
    def find_new_products(params: dict[str, Any]) -> list[dict[str, Any]]:
        since = datetime.now(UTC) - timedelta(hours=int(params["lookback_hours"]))
        products = _query_products(f"created_at:>'{since.strftime('%Y-%m-%dT%H:%M:%SZ')}' AND status:active")
        fresh = [p for p in products if entry_for(TIKTOK_CONN_ID, f"shopify:{product_key(p)}") is None]
        # Filter here, not by skipping a mapped task: one skipped instance would skip every downstream post.
        postable = [p for p in fresh if photo_urls(p)[0]]
        for product in fresh:
            if product not in postable:
                print(f"product {product_key(product)} ({product['title']}) has no JPEG/WebP image; not posting it")
        print(f"{len(products)} products created since {since:%Y-%m-%d %H:%M}Z, {len(fresh)} not posted yet")
        return postable

    @task(map_index_template="{{ task.op_kwargs['product']['title'] }}")
    def stage_photos(product: dict[str, Any]) -> dict[str, Any]:
        """Copy the product's JPEG/WebP images to the verified media store; build the photo post's arguments."""
        import httpx

        urls, skipped = photo_urls(product)
        for url in skipped:
            print(f"skipping {url}: TikTok takes JPEG or WebP only (and at most {PHOTOS_MAX} photos)")
        key = product_key(product)
        public = []
        with httpx.Client(timeout=60, follow_redirects=True) as http:
            for n, url in enumerate(urls):
                name = f"shopify/{key}/{n:02d}.{PHOTO_TYPES[os.path.splitext(urlsplit(url).path)[1].lower()]}"
                target = ObjectStoragePath(MEDIA_BASE) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with http.stream("GET", url) as response, target.open("wb") as out:
                    response.raise_for_status()
                    for block in response.iter_bytes():
                        out.write(block)
                public.append(MEDIA_PUBLIC_URL.rstrip("/") + "/" + name)
        return {
            "photo_images": public,
            "title": trim_words(product["title"], PHOTO_TITLE_MAX),
            "description": trim_words(html_to_text(product.get("descriptionHtml", "")), PHOTO_DESCRIPTION_MAX),
            "idempotency_key": f"shopify:{key}",
        }

    TikTokPhotoPostOperator.partial(
        task_id="post_carousel",
        tiktok_conn_id=TIKTOK_CONN_ID,
        privacy_level=PRIVACY_LEVEL,
        map_index_template="{{ task.title }}",
        outlets=[published_posts()],  # announces each post to tiktok_post_performance
    ).expand_kwargs(stage_photos.expand(product=find_new_products()))


def _query_products(search: str) -> list[dict[str, Any]]:
    """Every product matching ``search``, following the GraphQL cursor."""
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id=SHOPIFY_CONN_ID)
    token = hook.get_connection(SHOPIFY_CONN_ID).password
    headers = {"X-Shopify-Access-Token": token or "", "Content-Type": "application/json"}
    products: list[dict[str, Any]] = []
    after = None
    while True:
        response = hook.run(
            f"admin/api/{API_VERSION}/graphql.json",
            json={"query": PRODUCTS_QUERY, "variables": {"q": search, "after": after}},
            headers=headers,
        )
        body = response.json()
        if body.get("errors"):  # GraphQL errors (THROTTLED included) can come with HTTP 200
            raise RuntimeError(f"Shopify GraphQL errors: {body['errors']}")
        page = body["data"]["products"]
        products.extend(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return products
        after = page["pageInfo"]["endCursor"]


shopify_to_tiktok()
