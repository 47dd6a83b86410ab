"""Apache Airflow provider for TikTok's Content Posting API.

Kept to the version string on purpose: DAG files import operators from submodules and DAG parsing runs
constantly, so importing the package must cost nothing.
"""

__version__ = "0.1.0"
