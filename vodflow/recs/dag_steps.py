"""Transitional: renamed :mod:`vodflow.recs.training`; the user_title asset moved to :mod:`vodflow.analytics.assets`.

Only ``dags/analytics_maintenance.py`` and ``tests/analytics/test_stream_restart.py`` (which pins this
module's ``user_title_uri``) still import it; delete this file once they use ``vodflow.analytics.assets``.
"""

from vodflow.analytics.assets import USER_TITLE_ASSET, table_uri  # noqa: F401
from vodflow.analytics.tables import USER_TITLE


def user_title_uri(settings=None) -> str:
    return table_uri(USER_TITLE, settings)
