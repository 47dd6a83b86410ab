"""OpenLineage facets: real OpenLineage classes, names per its naming spec, no OpenLineage import at parse time."""

from __future__ import annotations

import subprocess
import sys

import pytest
from airflow.sdk import Asset, ObjectStoragePath

from airflow_provider_tiktok import openlineage as ol


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("/data/clips/a.mp4", ("file", "/data/clips/a.mp4")),
        ("file:///data/clips/a.mp4", ("file", "/data/clips/a.mp4")),
        ("s3://studio-exports/clips/2026-11-01.mp4", ("s3://studio-exports", "clips/2026-11-01.mp4")),
        ("gs://bucket/p/1.webp", ("gs://bucket", "p/1.webp")),
        ("https://media.example.com/p/1.jpg?X-Amz-Signature=secret", ("https://media.example.com", "/p/1.jpg")),
        ("https://user:pw@media.example.com/a.mp4", ("https://media.example.com", "/a.mp4")),
    ],
)
def test_source_names_follow_openlineage_naming(source, expected):
    assert ol.source_namespace_and_name(source) == expected


def test_an_object_storage_path_is_named_by_its_url():
    path = ObjectStoragePath("s3://studio-exports/clips/a.mp4", conn_id="aws_default")
    assert ol.source_namespace_and_name(path) == ("s3://studio-exports", "clips/a.mp4")


def test_post_names_match_the_tiktok_asset_uri():
    result = {"publish_id": "v_pub_file~v2.1", "post_ids": ["7351234567890123456"]}
    namespace, name = ol.post_namespace_and_name("@Brand", result)
    assert (namespace, name) == ("tiktok://brand", "video/7351234567890123456")
    assert Asset(uri=f"{namespace}/{name}").uri == "tiktok://brand/video/7351234567890123456"
    # Drafts and private posts have no public post id (yet): the publish is what exists.
    assert ol.post_namespace_and_name("brand", {"publish_id": "p_inbox_url~v2.9", "post_ids": []}) == (
        "tiktok://brand",
        "publish/p_inbox_url~v2.9",
    )


def test_publish_lineage_is_an_operator_lineage_of_real_datasets():
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    lineage = ol.publish_lineage(
        account="brand",
        sources=["https://media.example.com/p/1.jpg", "https://media.example.com/p/2.webp"],
        result={"publish_id": "p_pub_url~v2.1", "post_ids": ["99"]},
        kind="photo",
    )
    assert isinstance(lineage, OperatorLineage)
    assert lineage.inputs == [
        Dataset(namespace="https://media.example.com", name="/p/1.jpg"),
        Dataset(namespace="https://media.example.com", name="/p/2.webp"),
    ]
    assert lineage.outputs == [Dataset(namespace="tiktok://brand", name="photo/99")]
    assert ol.publish_lineage(account="brand", sources=["/a.mp4"], result=None).outputs == []


def test_the_asset_converter_is_registered_and_gives_the_same_dataset():
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from airflow_provider_tiktok.openlineage import convert_asset_to_openlineage

    converters = ProvidersManagerTaskRuntime().asset_to_openlineage_converters
    assert converters["tiktok"] is convert_asset_to_openlineage
    asset = Asset(uri="tiktok://@Brand/video/42")
    assert convert_asset_to_openlineage(asset, None) == Dataset(namespace="tiktok://brand", name="video/42")
    assert convert_asset_to_openlineage(Asset(uri="tiktok://brand"), None) == Dataset("tiktok://brand", "/")


def test_importing_the_operators_and_this_module_imports_no_openlineage():
    # Airflow's providers manager reads every installed provider's get_provider_info; that is all it may load.
    code = (
        "import sys\n"
        "import airflow_provider_tiktok.openlineage, airflow_provider_tiktok.operators.tiktok\n"
        "allowed = {'airflow.providers.openlineage', 'airflow.providers.openlineage.get_provider_info'}\n"
        "print(sorted(m for m in sys.modules if m.startswith(('openlineage', 'airflow.providers.openlineage',\n"
        "    'airflow.providers.common.compat.openlineage')) and m not in allowed))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
