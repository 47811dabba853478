-- Argo CD health of a Campaign (the UpliftModel's health.lua shares this logic, but for the
-- outages during a pause: its own, where this has its model's below).
-- Argo CD knows Healthy, Progressing, Suspended, Degraded, Missing and Unknown; the operator's
-- status.phase is mapped onto them (Paused -> Suspended; a Campaign's Completed -> Healthy: its
-- schedule ended and nothing needs fixing). A ramp held because a gate demands a rollback that
-- rollback.mode Manual leaves to a human (phase Paused, Ready False RollbackPending) is Degraded:
-- something failed and waits for someone, unlike a pause a human asked for. An outage outranks
-- a pause: a Campaign Paused while it exposes, whose model's stable version served and does not
-- now (ModelServing False StableNotServing; the operator keeps the phase Paused and names the
-- condition in its message, domain/stuck.py) is Degraded, as an unpaused one is after a grace
-- this script cannot time. No `string` library in Argo CD's VM.
local hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the uplift operator to report a status"
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the uplift operator to observe generation " .. generation
  return hs
end
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "InvalidSpec" and condition.status == "True" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
  end
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" and condition.status == "False" and condition.reason == "RollbackPending" then
      hs.status = "Degraded"
      hs.message = condition.message or obj.status.message or "RollbackPending"
      return hs
    end
  end
end
local phase = obj.status.phase
local message = obj.status.message or ""
if phase == "Paused" and obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "ModelServing" and condition.status == "False" and condition.reason == "StableNotServing" then
      hs.status = "Degraded"
      hs.message = message
      return hs
    end
  end
end
if phase == "Healthy" or phase == "Degraded" or phase == "Progressing" or phase == "Suspended" then
  hs.status = phase
elseif phase == "Paused" then
  hs.status = "Suspended"
elseif phase == "Completed" then
  hs.status = "Healthy"
else
  hs.status = "Unknown"
  message = "Unknown phase " .. phase .. ": " .. message
end
hs.message = message
return hs
