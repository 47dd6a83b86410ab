"""Operators for TikTok's Content Posting API (the public import path; each lives in a small module of its own).

One task does it all (:class:`TikTokPublishVideoOperator`, :class:`TikTokPhotoPostOperator`): creator info ("Posting
as ..."), preflight checks that cost no quota, init, chunked upload with progress logs, then a deferral to the status
trigger so no worker slot is held while TikTok processes. :class:`TikTokCreatorInfoOperator`,
:class:`TikTokInitVideoOperator` and :class:`TikTokUploadVideoOperator` (with ``TikTokPublishStatusSensor``) expose
the same steps as separate tasks. Exactly once: see ``airflow_provider_tiktok.publishing``.

Module imports stay cheap (no httpx, no API layer): DAG parsing imports this module constantly.
"""

from __future__ import annotations

from airflow_provider_tiktok.operators.base import DEFAULT_CONN_ID, TikTokBaseOperator, TikTokCreatorInfoOperator
from airflow_provider_tiktok.operators.metrics import TikTokVideoMetricsOperator
from airflow_provider_tiktok.operators.photo import TikTokPhotoPostOperator
from airflow_provider_tiktok.operators.post_id import TikTokResolvePostIdOperator
from airflow_provider_tiktok.operators.publish import TikTokPublishOperator
from airflow_provider_tiktok.operators.steps import TikTokInitVideoOperator, TikTokUploadVideoOperator
from airflow_provider_tiktok.operators.video import TikTokPublishVideoOperator

__all__ = [
    "DEFAULT_CONN_ID",
    "TikTokBaseOperator",
    "TikTokCreatorInfoOperator",
    "TikTokInitVideoOperator",
    "TikTokPhotoPostOperator",
    "TikTokPublishOperator",
    "TikTokPublishVideoOperator",
    "TikTokResolvePostIdOperator",
    "TikTokUploadVideoOperator",
    "TikTokVideoMetricsOperator",
]
