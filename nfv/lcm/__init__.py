"""VNF lifecycle (ETSI SOL003 v2), the pure part: what the hub's LCM engine calls.

Nothing here does I/O or reads a clock; every function is deterministic, so the engine can
re-run a step after a crash or a retry and write the same thing.

* :mod:`.wire`: the SOL wire style (camelCase, absent optional attributes) on the one model
  decoder of :mod:`atoll.resources.fields`; ProblemDetails, ResourceHandle, ScaleInfo.
* :mod:`.requests`: CreateVnfRequest, InstantiateVnfRequest (with the placement request),
  ScaleVnfRequest, ScaleVnfToLevelRequest, HealVnfRequest, TerminateVnfRequest,
  ChangeCurrentVnfPkgRequest.
* :mod:`.instance`: VnfInstance (instantiatedVnfInfo, vnfcResourceInfo, scaleStatus,
  extCpInfo) and VnfLcmOpOcc (resourceChanges).
* :mod:`.states`: the op occurrence state machine: start, advance, recover, and the
  instantiationState and one-operation-at-a-time rules.
* :mod:`.placement`: which site each VDU instance goes to (capacity, labels, rules).
* :mod:`.operations`: what each request means for the plan (400 before any op occurrence
  when the package cannot do it) and the ``instantiatedVnfInfo`` a deployment leaves.
* :mod:`.notifications`: subscription requests, which subscriptions a change concerns,
  notification bodies with ids that make redelivery deduplicable.
* :mod:`.intent`: a deployment plan, placed, as ``atoll.resources.Desired`` objects per
  site with deterministic ids, and the per-site diff for scale, heal and terminate.
"""
