"""Private instances of the real services Atoll runs on, for the testbed, demo and tests.

- :mod:`.etcd`: etcd members and clusters on free loopback ports;
- :mod:`.ovs`: a private ``ovsdb-server`` + ``ovs-vswitchd`` with the netdev datapath;
- :mod:`.libvirtd`: the system libvirtd started when needed, domain cleanup by prefix;
- :mod:`.netns`: network namespaces, veth pairs and bridges with unique names.

Each starts a real process or prepares a real host facility under names and directories of
its own, and has a ``stop``/``close`` that removes everything it made.
"""
