# The OPA peer's entry point, written the way OPA's Kubernetes admission
# tutorial writes it: package system, rule main, the server's default
# decision, so the API server POSTs the AdmissionReview to "/" and gets an
# AdmissionReview back. It applies the same sets shipgate binds: baseline
# everywhere, shop in the shop namespace.
package system

import data.shipgate.baseline
import data.shipgate.shop

main := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response,
}

in_shop if input.request.namespace == "shop"

denials contains m if some m in baseline.deny

denials contains m if {
	in_shop
	some m in shop.deny
}

warnings contains m if some m in baseline.warn

warnings contains m if {
	in_shop
	some m in shop.warn
}

default uid := ""

uid := input.request.uid

response := {
	"uid": uid,
	"allowed": false,
	"status": {"code": 403, "message": concat("; ", sort(denials))},
} if {
	count(denials) > 0
} else := {"uid": uid, "allowed": true, "warnings": sort(warnings)} if {
	count(warnings) > 0
} else := {"uid": uid, "allowed": true}
