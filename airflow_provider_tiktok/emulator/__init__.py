"""An offline TikTok: a real HTTP server implementing the OAuth and Content Posting endpoints as documented.

Independent of ``airflow_provider_tiktok.api`` on purpose: it is a second reading of TikTok's spec, so a misreading
on either side shows up as a failing test. See docs/emulator.md.
"""

from airflow_provider_tiktok.emulator.control import EmulatorControl, EmulatorControlError
from airflow_provider_tiktok.emulator.server import EmulatorServer

__all__ = ["EmulatorControl", "EmulatorControlError", "EmulatorServer"]
