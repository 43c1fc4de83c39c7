"""An op occurrence's ``work``: what the engine is to do at each site, and where it is.

``work`` is a map kept on the op occurrence record (:mod:`.records`), so the store always
says how far an operation got (a hub that restarts carries on from it)::

    {"before": intent, "steps": [intent, ...], "step_timeouts": [s, ...], "step": i,
     "phase": "operation"|"rollback", "info", "changes", "flavors", "instance_changes",
     "max_parallel", "stop_on_failure", "site_timeout",
     "sites": {site id: {"state": "pending"|"applying"|"done"|"failed", "message",
                         "started", "waits", "resourceChanges", "site": name}}}

(``waits`` is ``None`` for a site recorded ``applying`` whose write's answer is not saved
yet: the engine's intent before it writes; see :mod:`.engine`.)

:func:`new` makes it from a plan, the request's options over the hub's settings;
:func:`reset_for` is what ``retry`` and ``rollback`` do to it; :func:`parallel` and
:func:`site_timeout` read its options back, whatever an earlier hub stored. Pure but for
:func:`rebuild_failed`, which reads the sites' statuses.
"""

from __future__ import annotations

import copy
from typing import TypeVar

from atoll.errors import NotFound
from atoll.hub.lcm import records
from atoll.hub.lcm.planner import Planned, per_site_changes
from atoll.hub.settings import HubSettings
from atoll.hub.sites import intent
from atoll.hub.store.base import Store
from atoll.jsonbody import JSON
from atoll.nfv.lcm.requests import MAX_SITE_TIMEOUT

_T = TypeVar("_T")


def new(planned: Planned, settings: HubSettings) -> JSON:
    """The work of a planned operation, every site pending at its first step."""
    sites = set(planned.before)
    for step in planned.steps:
        sites |= set(step)
    final = planned.steps[-1]
    by_site = per_site_changes(planned.before, final)
    opts = planned.options
    return {
        "before": records.intent_wire(planned.before),
        "steps": [records.intent_wire(s) for s in planned.steps],
        "step_timeouts": list(planned.step_timeouts),
        "step": 0,
        "phase": "operation",
        "info": planned.info.to_wire() if planned.info else None,
        "changes": planned.changes.to_wire(),
        "flavors": {k: d.to_wire() for k, d in planned.flavors.items()},
        "instance_changes": planned.instance_changes,
        "max_parallel": _given(opts.max_parallel, settings.lcm_max_parallel),
        "stop_on_failure": _given(opts.stop_on_failure, settings.lcm_stop_on_failure),
        "site_timeout": _given(opts.site_timeout, settings.lcm_site_timeout),
        "sites": {
            site: {
                "state": "pending",
                "message": "",
                "started": None,
                "waits": [],
                "resourceChanges": by_site[site].to_wire() if site in by_site else None,
            }
            for site in sorted(sites)
        },
    }


def reset_for(work: JSON, event: str, max_parallel: int) -> JSON:
    """A copy of ``work`` as ``event`` (``retry``, ``rollback``, ``fail``) leaves it: a retry
    runs the current step again at every site not done, a rollback the whole rollback phase
    at every site; ``max_parallel``, the hub's setting, replaces a stored 0 (what made the
    operation stop)."""
    work = copy.deepcopy(work)
    if event not in ("retry", "rollback"):
        return work
    if parallel(work) == 0:  # what made it stop: not again
        work["max_parallel"] = max_parallel
    # a site "done" in the other phase (a retry after a rollback that stopped half-way) is
    # not done in this one: the whole phase again, from its first step
    again = event == "rollback" or work["phase"] == "rollback"
    if again and event == "retry":
        work["step"] = 0
    work["phase"] = "rollback" if event == "rollback" else "operation"
    work["sites"] = {
        site: {**e, "state": "pending", "message": "", "waits": []}
        if again or e["state"] != "done"
        else e
        for site, e in work["sites"].items()
    }
    return work


async def rebuild_failed(store: Store, work: JSON) -> None:
    """A retry: servers the sites left in ERROR get their rebuild counter raised in the
    step's target (a site does not try the same spec twice; a new one it builds again)."""
    step = copy.deepcopy(work["steps"][work["step"]])
    for site_id, objects in step.items():
        for d in objects:
            if d["kind"] != "server":
                continue
            key = intent.object_key(site_id, "server", d["meta"]["id"])
            try:
                status = await store.get(intent.SITE_STATUS, key)
            except NotFound:
                continue
            if status.value.get("state") == "ERROR":
                d["spec"]["rebuilds"] = int(d["spec"].get("rebuilds", 0)) + 1
    work["steps"][work["step"]] = step


def parallel(work: JSON) -> int | None:
    """How many sites of the op may be applying at once: its ``max_parallel``, or None for
    all of them (0 or none). Anything else an earlier hub or the settings stored (below 0,
    not a number) is 0 here: such an op starts no site and goes FAILED_TEMP saying so."""
    value = work.get("max_parallel")
    if value is None or (value == 0 and not isinstance(value, bool)):
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)


def site_timeout(work: JSON, default: float) -> float:
    """The op's siteTimeout: a positive number, never beyond a day (or the hub's own
    setting, ``default``, if longer); an op an earlier hub stored without a sound one gets
    the setting."""
    value = work.get("site_timeout")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return default
    return min(float(value), max(MAX_SITE_TIMEOUT, default))


def _given(value: _T | None, default: _T) -> _T:
    return default if value is None else value
