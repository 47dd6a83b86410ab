"""OpenLineage facets for the publishing operators: input = the media, output = the TikTok post.

Nothing here imports OpenLineage at module level, and the operators import this module only from their
``get_openlineage_facets_on_*`` methods, which the OpenLineage provider calls only when it is installed: a DAG file
that uses the operators never pays for (or needs) OpenLineage.

Dataset names follow OpenLineage's naming spec: ``s3://bucket/key`` is namespace ``s3://bucket``, name ``key``; a
local path is namespace ``file``, name the absolute path; an ``https://host/path`` URL is namespace
``https://host``, name the path. A post is namespace ``tiktok://<account>`` and name ``video/<post_id>`` (or
``photo/<post_id>``), matching its ``tiktok://`` asset URI; a post without a public id yet (drafts, private posts)
is named ``publish/<publish_id>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_tiktok.assets import post_uri

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Asset

# OpenLineage's spec: object stores are namespaced by bucket, the object key is the name.
_BUCKET_SCHEMES = {"s3", "s3a", "gs", "gcs", "abfs", "abfss", "wasbs", "az", "adl"}


def source_namespace_and_name(source: str | os.PathLike[str]) -> tuple[str, str]:
    """(namespace, name) of a media source: a local path, an ObjectStoragePath or its URL, or an http(s) URL."""
    text = str(source)  # ObjectStoragePath renders as its URL (s3://bucket/key)
    parts = urlsplit(text)
    if not parts.scheme or parts.scheme == "file" or len(parts.scheme) == 1:  # "C:\\..." parses as scheme "c"
        path = parts.path if parts.scheme == "file" else text
        return "file", os.path.abspath(path)
    # Never user info or the query: an ObjectStoragePath renders its conn_id as user info, and URLs may carry
    # credentials in either (pre-signed media URLs do in the query).
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme in _BUCKET_SCHEMES:
        return f"{parts.scheme}://{host}", parts.path.lstrip("/")
    return f"{parts.scheme}://{host}", parts.path or "/"


def post_namespace_and_name(account: str, result: Mapping[str, Any], kind: str = "video") -> tuple[str, str]:
    """(namespace, name) of the post an operator's result describes (its XCom: publish_id, post_ids, ...)."""
    namespace = post_uri(account)
    post_ids = [str(post_id) for post_id in result.get("post_ids") or [] if post_id]
    if post_ids:
        return namespace, post_uri(account, post_ids[0], kind).removeprefix(namespace + "/")
    return namespace, f"publish/{result['publish_id']}"


def source_datasets(sources: Iterable[str | os.PathLike[str]]) -> list[Dataset]:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return [Dataset(namespace=ns, name=name) for ns, name in map(source_namespace_and_name, sources)]


def post_dataset(account: str, result: Mapping[str, Any], kind: str = "video") -> Dataset:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = post_namespace_and_name(account, result, kind)
    return Dataset(namespace=namespace, name=name)


def publish_lineage(
    *,
    account: str,
    sources: Iterable[str | os.PathLike[str]],
    result: Mapping[str, Any] | None,
    kind: str = "video",
) -> OperatorLineage:
    """The ``OperatorLineage`` of one publish: ``result`` is None before the post exists (``..._on_start``)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    outputs = [post_dataset(account, result, kind)] if result and result.get("publish_id") else []
    return OperatorLineage(inputs=source_datasets(sources), outputs=outputs)


def convert_asset_to_openlineage(asset: Asset, lineage_context: object) -> Dataset:
    """The scheme's ``to_openlineage_converter``: ``tiktok://brand/video/1`` -> (``tiktok://brand``, ``video/1``)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(asset.uri)
    return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.lstrip("/") or "/")
