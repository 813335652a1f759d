-- Argo CD health check for DashboardUser, Passcode and DashboardRole (access.dashboardops.io).
-- Install it in argocd-cm under resource.customizations.health.access.dashboardops.io_DashboardUser,
-- resource.customizations.health.access.dashboardops.io_Passcode and
-- resource.customizations.health.access.dashboardops.io_DashboardRole (see config/argocd/README.md).
hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "Waiting for the operator to see the latest spec"
  return hs
end
local ready, stalled, reconciling
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Stalled" then stalled = c end
  if c.type == "Reconciling" then reconciling = c end
end
if obj.kind == "DashboardRole" then
  -- A role has nothing to fail at (the API checks its permissions): once the operator has counted
  -- its users for the current spec it is Healthy, and until then on its way.
  if ready ~= nil and ready.status == "True" then
    hs.status = "Healthy"
    hs.message = ready.message
  end
  return hs
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.message
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.message = ready.reason .. ": " .. ready.message
  if ready.reason == "Revoked" then
    -- A revocation (spec.revoked, the user's access revoked, the user deleted) is a state someone
    -- chose, and it is settled: nothing for Argo CD to fix.
    hs.status = "Healthy"
    return hs
  end
  -- Expired, InviteExpired: settled, but nobody chose it and it does not work: someone must act
  -- (a reset, a resend).
  hs.status = "Degraded"
  return hs
end
return hs
