"""The demo: the most complete end-to-end story the project can tell, told as a transcript.

Every step is a real ``atoll`` command run in a subprocess, printed as ``$ atoll ...`` the way
a user would type it, followed by what it showed. Acts share one :class:`~.stage.Stage`
(working directory, a served hub, cleanup stack); each act checks what a user would check and
fails loudly when it does not hold. ``run`` plays the acts in order and always cleans up.

- :mod:`.hub`: a hub over HTTPS, identity and project isolation, seen through the CLI.
- :mod:`.packages`: ETSI VNF packages validated, then onboarded to the hub.
- :mod:`.site`: a standalone site agent boots the reference VNF on real libvirt + OVS.
- :mod:`.services`: the hub's store on a 3-member etcd cluster survives a member loss.
"""
