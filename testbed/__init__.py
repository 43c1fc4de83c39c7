"""The testbed: hub + N sites on one machine, the private services they need (etcd, OVS,
libvirtd, network namespaces), fault injection, the demo, and simulated sites for scale."""
