-- Argo CD health of an UpliftModel (the Campaign's health.lua shares all but the outages during
-- a pause below, and has its own: its model's stable outage). Argo CD knows Healthy, Progressing, Suspended, Degraded, Missing and Unknown; the
-- operator's status.phase is mapped onto them (Paused -> Suspended; a Campaign's Completed ->
-- Healthy: its schedule ended and nothing needs fixing). A ramp held because a gate demands a
-- rollback that rollback.mode Manual leaves to a human (phase Paused, Ready False
-- RollbackPending) is Degraded: something failed and waits for someone, unlike a pause a human
-- asked for. An outage outranks a pause: a paused ramp whose stable version served and does
-- not now (Ready False WaitingForServing while status.stableServedVersion names the stable
-- version; the operator keeps the phase Paused, which its ramp reads back) is Degraded, as an
-- unpaused one's phase is; a stable version that never served (a first version starting) is
-- awaited, so that pause stays Suspended. So is a paused ramp whose graph the serving backend
-- reports failed (ServingFailed True: a canary keeps its step's traffic while the pause lasts)
-- or whose roll did not serve (ServingApplied False RollTimedOut): the operator keeps the phase
-- Paused and names the condition in its message (domain/stuck.py), as an unpaused one is
-- Degraded after a grace this script cannot time. A spec edit whose serving graph waits for a
-- roll slot, or whose pods roll (until every new pod is available), is phase Progressing
-- (domain/stuck.py), passed through. No `string`
-- library in Argo CD's VM.
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
  local stableServed = obj.status.stableVersion ~= nil
      and obj.status.stableServedVersion == obj.status.stableVersion
  for _, condition in ipairs(obj.status.conditions) do
    if (stableServed and condition.type == "Ready" and condition.status == "False"
          and condition.reason == "WaitingForServing")
        or (condition.type == "ServingFailed" and condition.status == "True")
        or (condition.type == "ServingApplied" and condition.status == "False" and condition.reason == "RollTimedOut") then
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
