package shipgate.fixture_test

import data.shipgate.fixture

test_a if {
	fixture.deny == {"a"} with input as {"a": true}
}
