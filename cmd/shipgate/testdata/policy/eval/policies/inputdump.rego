# Denies with the whole input, so a test can compare the input
# `policy eval` builds with the one /validate builds.
package shipgate.inputdump

deny contains json.marshal(input)
