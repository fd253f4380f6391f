"""The unchanged AWS CLI against the shared node: the README quickstart."""

from harness import AwsTestCase, cli_round_trip


class AwsCli(AwsTestCase):

    def test_quickstart_round_trip(self):
        cli_round_trip(self, self.endpoint)
