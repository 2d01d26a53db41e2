-- Restart the pods of a Deployment, StatefulSet or DaemonSet the way
-- `kubectl rollout restart` does: stamp the pod template with the current time, so
-- the controller rolls out new pods under its own update strategy.
local os = require("os")
local template = obj.spec.template
if template.metadata == nil then
    template.metadata = {}
end
if template.metadata.annotations == nil then
    template.metadata.annotations = {}
end
template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
