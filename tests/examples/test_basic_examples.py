"""The four single-purpose examples, run end to end through dag.test() against the emulator."""

from __future__ import annotations

import hashlib
from pathlib import Path

from airflow_provider_tiktok.testing.media import make_jpeg, make_mp4, make_webp
from tests.dag_runner import clear_and_rerun, run_dag


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _video(tmp_path: Path, size: int = 300_000) -> Path:
    path = tmp_path / "clip.mp4"
    make_mp4(path, duration_s=6.0, size=size)
    return path


def test_publish_video_posts_the_file_once(examples, tiktok, tmp_path):
    emulator, _ = tiktok
    video = _video(tmp_path)
    dag = examples.dags["tiktok_publish_video"]
    conf = {"video_path": str(video), "privacy_level": "PUBLIC_TO_EVERYONE", "caption": "Clip #one"}

    result = run_dag(dag, run_conf=conf)

    assert result.state == "success", result.states
    published = result.xcom("publish")
    assert published["status"] == "PUBLISH_COMPLETE"
    assert result.xcom("report") == published
    [post] = emulator.control.posts()
    assert post["publish_id"] == published["publish_id"]
    assert (post["size"], post["sha256"]) == (video.stat().st_size, _sha(video.read_bytes()))
    assert post["post_info"]["title"] == "Clip #one"
    assert post["post_info"]["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert published["post_url"] == f"https://www.tiktok.com/@demo_creator/video/{post['post_ids'][0]}"

    again = clear_and_rerun(dag, result, ["publish", "report"])

    assert again.state == "success"
    assert again.xcom("publish")["publish_id"] == published["publish_id"]
    assert len(emulator.control.posts()) == 1


def test_step_by_step_runs_each_step_as_a_task(examples, tiktok, tmp_path):
    emulator, _ = tiktok
    video = _video(tmp_path, size=400_000)

    result = run_dag(examples.dags["tiktok_step_by_step"], run_conf={"video_path": str(video)})

    assert result.state == "success", result.states
    assert result.xcom("creator_info")["nickname"] == "Demo Creator"
    init = result.xcom("init")
    assert init["upload_plan"]["video_size"] == video.stat().st_size
    assert "upload_url" not in init
    assert result.xcom("upload")["uploaded_bytes"] == video.stat().st_size
    assert result.xcom("wait_for_post")["status"] == "PUBLISH_COMPLETE"
    [post] = emulator.control.posts()
    assert post["publish_id"] == init["publish_id"]
    assert post["sha256"] == _sha(video.read_bytes())
    assert post["post_info"]["privacy_level"] == "SELF_ONLY"


def test_photo_carousel_direct_and_draft(examples, tiktok):
    emulator, _ = tiktok
    images = {"a.jpg": make_jpeg(1080, 1350), "b.webp": make_webp(1080, 1080), "c.jpg": make_jpeg(720, 1280)}
    for name, data in images.items():
        (examples.media_dir / name).write_bytes(data)
    urls = [examples.media_url + name for name in images]
    conf = {"photo_urls": urls, "title": "Autumn set", "privacy_level": "PUBLIC_TO_EVERYONE"}

    result = run_dag(examples.dags["tiktok_photo_carousel"], run_conf=conf)

    assert result.state == "success", result.states
    assert result.xcom("direct_post")["status"] == "PUBLISH_COMPLETE"
    assert result.xcom("draft")["status"] == "SEND_TO_USER_INBOX"
    posts = {p["publish_id"]: p for p in emulator.control.posts()}
    direct, draft = posts[result.xcom("direct_post")["publish_id"]], posts[result.xcom("draft")["publish_id"]]
    assert (direct["mode"], draft["mode"]) == ("DIRECT_POST", "MEDIA_UPLOAD")
    for post in (direct, draft):
        assert post["media_type"] == "PHOTO"
        assert [i["sha256"] for i in post["images"]] == [_sha(d) for d in images.values()]
        assert post["post_info"]["title"] == "Autumn set"
    assert sorted(examples.site.paths()) == sorted(f"/media/{n}" for n in images for _ in range(2))

    again = clear_and_rerun(examples.dags["tiktok_photo_carousel"], result, ["direct_post", "draft"])

    assert again.state == "success"
    assert len(emulator.control.posts()) == 2


def test_draft_review_lands_in_the_inbox(examples, tiktok, tmp_path):
    emulator, _ = tiktok
    video = _video(tmp_path)

    result = run_dag(examples.dags["tiktok_draft_review"], run_conf={"video_path": str(video)})

    assert result.state == "success", result.states
    draft = result.xcom("upload_draft")
    assert draft["status"] == "SEND_TO_USER_INBOX"
    assert "demo_creator" in result.xcom("tell_the_creator")
    [post] = emulator.control.posts()
    assert (post["mode"], post["status"], post["sha256"]) == (
        "MEDIA_UPLOAD",
        "SEND_TO_USER_INBOX",
        _sha(video.read_bytes()),
    )
