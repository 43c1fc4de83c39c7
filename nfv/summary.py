"""Short, JSON-able summaries of a package, for listings and the CLI's table view.

``VnfPackage.to_dict()`` is the full model; ``summarize`` is what a person scans first.
"""

from __future__ import annotations

from typing import Any

from atoll.nfv.model import Flavour, VnfPackage


def summarize_flavour(flavour: Flavour) -> dict[str, Any]:
    return {
        "id": flavour.id,
        "description": flavour.description,
        "vdus": [v.id for v in flavour.vdus],
        "storages": [s.id for s in flavour.storages],
        "cps": len(flavour.cps),
        "ext_cps": len(flavour.ext_cps),
        "virtual_links": [vl.id for vl in flavour.virtual_links],
        "external_links": [e.name for e in flavour.external_links],
        "aspects": {a.id: a.max_scale_level for a in flavour.aspects},
        "instantiation_levels": [lv.id for lv in flavour.instantiation_levels],
        "default_level": flavour.default_level,
        "placement_rules": [
            f"{r.kind} {r.scope}: {', '.join(r.vdus)}" for r in flavour.placement_rules
        ],
        "policies": len(flavour.policies),
    }


def summarize(package: VnfPackage) -> dict[str, Any]:
    vnfd = package.vnfd
    images = sorted(
        {
            image.name
            for flavour in vnfd.flavours
            for image in [v.sw_image for v in flavour.vdus] + [s.sw_image for s in flavour.storages]
            if image is not None
        }
    )
    return {
        "descriptor_id": vnfd.descriptor_id,
        "descriptor_version": vnfd.descriptor_version,
        "provider": vnfd.provider,
        "product_name": vnfd.product_name,
        "software_version": vnfd.software_version,
        "vnfm_info": list(vnfd.vnfm_info),
        "vnf_type": vnfd.vnf_type,
        "entry_definitions": package.entry_definitions,
        "flavours": [f.id for f in vnfd.flavours],
        "vdus": sum(len(f.vdus) for f in vnfd.flavours),
        "images": images,
        "verified_files": list(package.verified_files),
        "warnings": len(package.warnings),
    }
