"""The "View on TikTok" button on publishing tasks.

The operators push the post's URL to XCom (key ``tiktok_post_url``) when the publish finishes; Airflow's task runner
calls :meth:`TikTokPostLink.get_link` when the task ends and stores the result for the UI, so the API server never
runs provider code. Public posts link to the post (``/@user/video/<id>`` or ``/@user/photo/<id>``); when TikTok gives
no post id (private posts, posts still in moderation, drafts) the link falls back to the creator's profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.compat.sdk import XCom
from airflow.sdk import BaseOperatorLink

from airflow_provider_tiktok.operators._common import POST_URL_XCOM_KEY

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class TikTokPostLink(BaseOperatorLink):
    """Link to the published TikTok post (or the creator's profile when there is no public post id)."""

    name = "View on TikTok"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(ti_key=ti_key, key=POST_URL_XCOM_KEY)
        return url if isinstance(url, str) else ""
