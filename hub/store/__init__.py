"""The hub's revisioned object store: one protocol (:mod:`.base`), several backends.

- :mod:`.memory`: in-memory; documents the contract, used by unit tests of layers above.
- :mod:`.sqlite`: the default (sqlite-utils, WAL), one file under the hub's data dir.
- :mod:`.etcd`: for operators who outgrow one machine (etcd3gw against etcd 3.4+).

``open_store(url, data_dir)`` picks one from the hub's ``--store`` setting.
"""
