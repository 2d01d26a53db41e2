"""Names of the search attributes Bosun keeps on every app workflow.

They make the Temporal UI a dashboard (``BosunSyncStatus="OutOfSync"``). All are
Keywords. The dev stack registers them at start; ``bosun setup`` registers them on
any other Temporal server.
"""

from __future__ import annotations

APP = "BosunApp"
PROJECT = "BosunProject"
CLUSTER = "BosunCluster"
NAMESPACE = "BosunNamespace"
SYNC_STATUS = "BosunSyncStatus"
HEALTH_STATUS = "BosunHealthStatus"
REVISION = "BosunRevision"
OPERATION = "BosunOperation"

ALL = (APP, PROJECT, CLUSTER, NAMESPACE, SYNC_STATUS, HEALTH_STATUS, REVISION, OPERATION)
