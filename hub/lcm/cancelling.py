"""How the engine cancels an op occurrence (SOL003 ``POST .../vnf_lcm_op_occs/{id}/cancel``).

The request writes the intent on the op occurrence (``isCancelPending``, ``cancelMode``:
:func:`atoll.nfv.lcm.states.request_cancel`) and nothing else; the engine's loop acts on
it, so a hub that restarts in between finds it in the store and acts on it then:

* **STARTING**: nothing was written to a site yet, whatever the mode: ROLLED_BACK at once,
  and the instance's lock goes.
* **FORCEFUL** (PROCESSING or ROLLING_BACK): FAILED_TEMP at the loop's next pass. A site
  the op was waiting for is marked ``failed`` ("stopped while applying"): what it was told
  stays told, and whatever it makes of it is for ``retry`` (which writes again at every
  site not done) or ``rollback`` (which writes the intent from before the op everywhere)
  to settle.
* **GRACEFUL** (PROCESSING or ROLLING_BACK): the engine stops at its next step boundary,
  the point where no site of the op is applying: the sites written already (or recorded as
  being written: the engine records that before it writes, so a cancel landing in between
  finds them in flight) are awaited (their own timeouts still apply) until done or failed,
  no other site is written and no next step begins; then FAILED_TEMP. Even when those were
  the last sites, the op is FAILED_TEMP, not COMPLETED (SOL003's outcome of a cancel):
  ``retry`` then completes it without writing anything again.

The op occurrence's ``error`` says it was cancelled, how, and where each site was left
(:func:`stop`); its ``sites`` show the same.
"""

from __future__ import annotations

from atoll.jsonbody import JSON
from atoll.nfv.lcm.instance import VnfLcmOpOcc

STOPPED = "stopped while applying (cancelled FORCEFUL): retry or roll back to settle it"
NOT_STARTED = "not started (cancelled)"


def at_once(occ: VnfLcmOpOcc) -> bool:
    """Whether the pending cancel of ``occ`` is acted on without waiting for any site."""
    return occ.is_cancel_pending and (
        occ.operation_state == "STARTING" or occ.cancel_mode == "FORCEFUL"
    )


def stop(work: JSON, occ: VnfLcmOpOcc) -> str:
    """Mark where the cancel leaves each site of ``work`` (in place); what it says, for the
    op occurrence's ``error`` ("" when no site was written: STARTING)."""
    sites: dict[str, JSON] = work.get("sites", {})
    for e in sites.values():
        if e["state"] == "applying":
            e.update(state="failed", message=STOPPED)
        elif e["state"] == "pending":
            e["message"] = NOT_STARTED
    if occ.operation_state == "STARTING":
        return ""
    said = []
    for state, label in (("done", "done"), ("failed", "failed"), ("pending", "not started")):
        names = [_name(site_id, e) for site_id, e in sorted(sites.items()) if e["state"] == state]
        if names:
            said.append(f"{label}: {', '.join(names)}")
    steps = len(work.get("steps", ()))
    if work.get("phase") != "rollback" and steps > 1:
        said.insert(0, f"at step {int(work.get('step', 0)) + 1} of {steps}")
    return "; ".join(said) or "no site was written"


def _name(site_id: str, e: JSON) -> str:
    name = str(e.get("site") or site_id)
    return f"{name} ({e['message']})" if e["state"] == "failed" and e.get("message") else name
