"""YouTube channel feed: parsing and the edge-triggered check used by the ``youtube_to_tiktok`` example's AssetWatcher.

It lives in the installed package, not next to the DAG, because the triggerer cannot import modules from the DAGs
folder. The check must fire on *changes* only (a condition that stays true makes the watcher start a run on every
poll), so it remembers which video ids it has already announced in an Airflow Variable, which survives triggerer
restarts and is writable from triggers.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

ATOM = "{http://www.w3.org/2005/Atom}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
MEDIA = "{http://search.yahoo.com/mrss/}"
SEEN_LIMIT = 200  # the feed lists ~15 entries; remembering more is only a safety margin


def feed_entries(xml_text: str) -> list[dict[str, str]]:
    """The entries of a channel's Atom feed (newest first): video id, title, description, publish time."""
    # The stdlib parser is safe here: expat ignores external entities and bounds entity expansion (>= 2.4.1).
    root = ET.fromstring(xml_text)  # noqa: S314
    entries = []
    for entry in root.iter(f"{ATOM}entry"):
        video_id = entry.findtext(f"{YT}videoId")
        if not video_id:
            continue
        entries.append(
            {
                "video_id": video_id,
                "channel_id": entry.findtext(f"{YT}channelId") or "",
                "title": entry.findtext(f"{ATOM}title") or "",
                "description": entry.findtext(f"{MEDIA}group/{MEDIA}description") or "",
                "published": entry.findtext(f"{ATOM}published") or "",
            }
        )
    return entries


def unseen(entries: list[dict[str, str]], seen: list[str]) -> list[str]:
    """Video ids in the feed that were not announced before, newest first."""
    known = set(seen)
    return [e["video_id"] for e in entries if e["video_id"] not in known]


def seen_variable_key(channel_id: str) -> str:
    return f"youtube_feed_seen__{channel_id}"


async def new_upload_in_feed(response: Any) -> bool:
    """``HttpEventTrigger`` check: True once per poll that shows a video id not announced before.

    ``response`` is a ``requests.Response`` for ``feeds/videos.xml?channel_id=...``. The DAG run that follows does the
    real work (and its own exactly-once bookkeeping); this only decides whether a run is worth starting.
    """
    from airflow.sdk import Variable
    from asgiref.sync import sync_to_async

    entries = feed_entries(response.text)
    if not entries:
        return False
    key = seen_variable_key(entries[0]["channel_id"] or "unknown")
    seen = json.loads(await sync_to_async(Variable.get)(key, default="[]"))
    new = unseen(entries, seen)
    if not new:
        return False
    await sync_to_async(Variable.set)(key, json.dumps((new + seen)[:SEEN_LIMIT]))
    return True
