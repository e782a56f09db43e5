package shipgate.broken

deny contains msg if {
	msg := undefined_thing
}
