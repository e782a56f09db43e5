package shipgate.fixture

deny contains "a" if {
	input.a
}

deny contains "b" if {
	input.b
}

warn contains "never" if {
	false
}
