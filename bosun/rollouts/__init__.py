"""Argo Rollouts' progressive delivery, as Bosun's pure core sees it.

The RolloutWorkflow (``workflows/rollout.py``) acts as the Rollout controller: it observes
the Rollout and its ReplicaSets through activities, asks this package what to do next
(replica counts for a weight, the pod-template hash, the next step, the status to write)
and does it with activities and durable timers. Nothing here does I/O.
"""
