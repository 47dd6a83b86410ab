"""Hooks for TikTok."""

from airflow_provider_tiktok.hooks.tiktok import TikTokHook

__all__ = ["TikTokHook"]
