"""Act: the hub's store on a real 3-member etcd cluster keeps serving with a member down."""

from __future__ import annotations

from atoll.testbed.demo.hub import start_hub
from atoll.testbed.demo.stage import Stage
from atoll.testbed.services.etcd import EtcdCluster


def play(stage: Stage) -> None:
    cluster = EtcdCluster(stage.work / "etcd", size=3).start()
    stage.stack.callback(cluster.stop)
    stage.say(f"  3-member etcd cluster at {cluster.url}")
    start_hub(stage, "--store", cluster.url)
    stage.atoll("project", "create", "before-failure", show=False)
    victim = cluster.members[0]
    victim.stop()
    stage.say(f"  stopped etcd member {victim.name} (port {victim.client_port})")
    stage.atoll("project", "create", "after-failure")
    names = {p["name"] for p in stage.atoll_json("project", "list")}
    stage.check({"before-failure", "after-failure"} <= names,
                "the hub kept reading and writing with 2 of 3 etcd members")  # fmt: skip
