"""Volume: 20,000 records across 4 shards in PutRecords batches of 500,
read back complete and in order per shard."""

import random

from harness import AwsTestCase, put_all, read_shard

RECORDS = 20000


class Volume(AwsTestCase):
    timeout_s = 300

    def test_20000_records_complete_and_ordered(self):
        name, _ = self.new_stream(shards=4)
        rng = random.Random(20000)
        entries = [{"PartitionKey": "pk-%d-%d" % (i, rng.randrange(1 << 30)),
                    "Data": b"vol-%08d-" % i + bytes(rng.randrange(256) for _ in range(64))}
                   for i in range(RECORDS)]
        acks = put_all(self.c, name, entries)
        by_shard = {}
        for i, a in enumerate(acks):
            by_shard.setdefault(a["ShardId"], []).append((int(a["SequenceNumber"]), i))
        self.assertEqual(len(by_shard), 4, "records should spread over all 4 shards")
        seen = {}
        for shard, want in sorted(by_shard.items()):
            recs = read_shard(self.c, name, shard)
            seqs = [int(r["SequenceNumber"]) for r in recs]
            self.assertTrue(all(a < b for a, b in zip(seqs, seqs[1:])),
                            "%s: sequence numbers not strictly increasing" % shard)
            got = []
            for r in recs:
                idx = int(r["Data"][4:12])
                self.assertNotIn(idx, seen, "record %d read twice (%s and %s)"
                                 % (idx, seen.get(idx), shard))
                seen[idx] = shard
                self.assertEqual(r["Data"], entries[idx]["Data"])
                self.assertEqual(r["PartitionKey"], entries[idx]["PartitionKey"])
                got.append((int(r["SequenceNumber"]), idx))
            self.assertEqual(got, sorted(want), "%s: read-back differs from what was acknowledged"
                             % shard)
        self.assertEqual(len(seen), RECORDS)
