"""The chunk planner against every rule of TikTok's Media Transfer Guide (section 1.3.1 of the reference)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_tiktok.api.chunks import MAX_FINAL_CHUNK_SIZE, ChunkPlan, plan_chunks
from airflow_provider_tiktok.api.errors import TikTokValidationError

FOUR_GB = 4 * 1024**3


def assert_valid(plan: ChunkPlan) -> None:
    size, chunk, count = plan.video_size, plan.chunk_size, plan.total_chunk_count
    assert 1 <= count <= 1000
    assert count == size // chunk, "total_chunk_count must be video_size // chunk_size (floor)"
    if size < 5_242_880:
        assert (chunk, count) == (size, 1), "files under 5 MB must go whole"
    if size > 64_000_000:
        assert count >= 2, "files over 64 MB must be split"
    if count > 1:
        assert 5_242_880 <= chunk <= 64_000_000
    else:
        assert chunk == size <= 64_000_000
    ranges = list(plan.ranges())
    assert len(ranges) == count
    expected_first = 0
    for index, (first, last) in enumerate(ranges):
        assert first == expected_first
        length = last - first + 1
        if index < count - 1:
            assert length == chunk
        else:
            assert chunk <= length <= MAX_FINAL_CHUNK_SIZE
        expected_first = last + 1
    assert expected_first == size, "ranges must tile the file exactly"


@settings(max_examples=500)
@given(size=st.integers(min_value=1, max_value=FOUR_GB))
def test_default_plan_satisfies_every_rule(size: int) -> None:
    assert_valid(plan_chunks(size))


@settings(max_examples=500)
@given(size=st.integers(min_value=1, max_value=FOUR_GB), preferred=st.integers(min_value=1, max_value=200_000_000))
def test_any_preferred_chunk_size_gives_a_valid_plan(size: int, preferred: int) -> None:
    assert_valid(plan_chunks(size, preferred))


@given(size=st.sampled_from([1, 5_242_879, 5_242_880, 5_242_881, 63_999_999, 64_000_000, 64_000_001, FOUR_GB]))
def test_boundaries(size: int) -> None:
    assert_valid(plan_chunks(size))
    assert_valid(plan_chunks(size, 5_242_880))
    assert_valid(plan_chunks(size, 64_000_000))


def test_tiktok_worked_example_uses_floor() -> None:
    plan = plan_chunks(50_000_123, 10_000_000)
    assert (plan.chunk_size, plan.total_chunk_count) == (10_000_000, 5)
    assert list(plan.ranges())[-1] == (40_000_000, 50_000_122)


def test_whole_upload_example() -> None:
    plan = plan_chunks(4_194_304)
    assert (plan.chunk_size, plan.total_chunk_count) == (4_194_304, 1)
    assert list(plan.ranges()) == [(0, 4_194_303)]


def test_between_one_and_two_preferred_chunks_goes_whole() -> None:
    # floor(12 MB / 10 MB) = 1: announce the real single-PUT size rather than a 10 MB chunk_size.
    assert plan_chunks(12_000_000, 10_000_000) == ChunkPlan(12_000_000, 12_000_000, 1)


def test_twelve_megabytes_in_5mib_chunks() -> None:
    plan = plan_chunks(12_000_000, 5_242_880)
    assert (plan.chunk_size, plan.total_chunk_count) == (5_242_880, 2)
    assert list(plan.ranges()) == [(0, 5_242_879), (5_242_880, 11_999_999)]


def test_just_over_64mb_is_split_in_two() -> None:
    plan = plan_chunks(64_000_001, 64_000_000)
    assert plan.total_chunk_count == 2


@pytest.mark.parametrize("size", [0, -5])
def test_empty_file_is_rejected(size: int) -> None:
    with pytest.raises(TikTokValidationError, match="non-empty") as info:
        plan_chunks(size)
    assert info.value.field == "video_size"


def test_oversized_file_is_rejected() -> None:
    with pytest.raises(TikTokValidationError, match="at most 4294967296 bytes") as info:
        plan_chunks(FOUR_GB + 1)
    assert info.value.limit == FOUR_GB


def test_chunk_index_at_boundaries() -> None:
    plan = plan_chunks(50_000_123, 10_000_000)
    assert plan.chunk_index_at(0) == 0
    assert plan.chunk_index_at(40_000_000) == 4
    with pytest.raises(ValueError, match="boundary"):
        plan.chunk_index_at(10_000_001)
    with pytest.raises(ValueError, match="boundary"):
        plan.chunk_index_at(50_000_000)
