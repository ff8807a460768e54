-- Argo CD health check for nflbet resources (Sportsbook, Model, AlertRoute).
-- Source of truth for the three entries in argocd-cm-health.yaml; keep them identical.
--   Suspended   condition Suspended=True (spec.suspend: the operator writes nothing)
--   Progressing the operator has not yet observed this generation, or Ready is not yet True
--   Degraded    Ready=False with reason Failed, InvalidSpec, PolicyViolation, ReconcileFailed or
--               BookStoreMismatch
--   Healthy     Ready=True for the current generation (also when stopped by spec.disabled)
local hs = {}
local generation = obj.metadata.generation
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the nflbet operator to report status"
  return hs
end
local ready = nil
local suspended = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    ready = c
  elseif c.type == "Suspended" then
    suspended = c
  end
end
if suspended ~= nil and suspended.status == "True" then
  hs.status = "Suspended"
  hs.message = suspended.message or "Reconciliation suspended by spec.suspend"
  return hs
end
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Ready describes an older generation"
  return hs
end
local message = ready.message or ""
if ready.reason ~= nil and ready.reason ~= "" then
  message = ready.reason .. ": " .. message
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message
  return hs
end
if ready.status == "False" and (ready.reason == "Failed" or ready.reason == "InvalidSpec" or ready.reason == "PolicyViolation" or ready.reason == "ReconcileFailed" or ready.reason == "BookStoreMismatch") then
  hs.status = "Degraded"
  hs.message = message
  return hs
end
hs.status = "Progressing"
hs.message = message
return hs
