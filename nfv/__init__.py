"""ETSI NFV: CSAR + SOL001 VNFD parsing into a typed deployment model, LCM, placement.

Public surface (what the hub and the lifecycle call):

* ``atoll.nfv.package.load_package(source: Path | bytes, limits=None, bundled=None, *,
  image_digests=()) -> VnfPackage``; raises ``atoll.nfv.errors.InvalidPackage`` (an
  ``InvalidInput``) listing every problem, a carried image without the checksum its VNFD
  declares or a file without the hash its manifest lists among them.
  ``VnfPackage.to_dict()`` is the JSON-able model, ``VnfPackage.warnings`` what was accepted
  but is worth a look, ``VnfPackage.digests`` what was hashed (with ``image_digests`` of
  each carried image). ``atoll.nfv.definitions.BundledTypes`` shares the
  parsed SOL001 library between calls of a long-lived process. With ``signature_check=``
  (``atoll.nfv.signature.SignatureCheck``, the caller's: verifying has side effects) the
  manifest's CMS signature (SOL004 security option 1) and each signed artifact's are found
  and handed to it; ``VnfPackage.signature`` and ``.artifact_signatures`` are what it
  verified. A zip delivering a signed CSAR (option 2: ``NAME.csar``, ``NAME.cms``,
  ``NAME.cert``) has its CSAR unpacked to ``unpack_to=`` (a file the caller owns), its
  signature checked (``VnfPackage.csar_signature``) and the CSAR read from there. The
  check the hub and ``atoll vnf package validate`` give is
  ``atoll.nfv.signature_check.ManifestSignatureCheck`` (``openssl cms -verify``), against
  ``atoll.nfv.signature_trust.trust_files(anchors, crls, ...)``.
* ``atoll.nfv.model``: the frozen dataclasses (``Vnfd``, ``Flavour``, ``Vdu``, ...).
* ``atoll.nfv.planning.plan(model, flavour_id, instantiation_level_id=None,
  scale_levels=None) -> DeploymentPlan``, ``scale(model, plan, aspect_id, steps)``,
  ``diff(old, new) -> PlanDelta``; raise ``InvalidPlanRequest``.
* ``atoll.nfv.lcm``: the pure part of the VNF lifecycle (SOL003 v2): typed requests,
  instance and op occurrence models, the op occurrence state machine, placement, the
  per-site intent of a deployment and its diffs (see that package's docstring).
* ``atoll.nfv.sol013``: attribute filters and selectors, the ``Version`` header check.
* ``atoll.nfv.artifacts.image_needs(package)``, ``vnfd_files(source, package)``,
  ``vnfd_archive(source, package)``; ``atoll.nfv.summary.summarize(package)``.
"""
