"""TikTok Content Posting API layer: plain httpx and pure functions, no Airflow imports.

Import the submodules directly (``api.client``, ``api.rules``...); this package stays empty so that importing one
piece never drags in the others.
"""
