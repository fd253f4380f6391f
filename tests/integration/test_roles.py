"""Split roles: process A runs coordinator+server, process B only the
gateway, pointed at A's RPC address. The AWS CLI and boto3 work through B."""

import time
import unittest

import botocore.exceptions

from harness import (Node, cli_round_trip, client, create_active, free_ports, read_shard,
                     stop_and_check, tmp_root, unique_name)


class SplitRoles(unittest.TestCase):
    timeout_s = 180

    def test_gateway_only_process(self):
        rpc, raft, gw = free_ports(3)
        tag = unique_name("roles")
        a = Node(tag + "-a", [
            "--node-id", "1",
            "--data", "%s/%s-a/data" % (tmp_root(), tag),
            "--rpc", "127.0.0.1:%d" % rpc,
            "--raft", "127.0.0.1:%d" % raft,
            "--peers", "1=127.0.0.1:%d/127.0.0.1:%d" % (rpc, raft),
            "--roles", "coordinator,server",
            "--groups", "2",
        ], ready_port=rpc)
        b = Node(tag + "-b", [
            "--node-id", "2",
            "--roles", "gateway",
            "--gateway", "127.0.0.1:%d" % gw,
            "--coordinator", "127.0.0.1:%d" % rpc,
        ], gateway_port=gw)
        try:
            a.start()
            b.start()
            c = client(b.endpoint)
            # The gateway may answer before it has reached the coordinator.
            deadline = time.monotonic() + 30
            while True:
                try:
                    c.list_streams()
                    break
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
                    if time.monotonic() > deadline:
                        raise AssertionError("gateway B never reached coordinator A: %s" % e)
                    time.sleep(0.2)
            cli_round_trip(self, b.endpoint)
            name = unique_name("split")
            create_active(c, name, 2)
            put = c.put_record(StreamName=name, PartitionKey="k", Data=b"through B")
            recs = read_shard(c, name, put["ShardId"])
            self.assertEqual([r["Data"] for r in recs], [b"through B"])
        finally:
            stop_and_check(self, b, a)
