-- Bosun's built-in actions for a workload that runs pods from a template
-- (Deployment, StatefulSet, DaemonSet): "restart" is always offered.
local actions = {}
actions["restart"] = {["iconClass"] = "fa fa-fw fa-redo", ["displayName"] = "Restart"}
return actions
