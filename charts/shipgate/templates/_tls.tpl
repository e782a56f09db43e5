{{/*
shipgate.tlsMaterial is the self-signed CA and serving certificate as JSON
{ca, cert, key}: the ones in the release's TLS Secret when it exists (an
upgrade keeps them), otherwise generated. It is generated once per render
and remembered, so the Secret and both webhook configurations agree.
*/}}
{{- define "shipgate.tlsMaterial" -}}
{{- if not (hasKey .Values.tls "generated") -}}
{{- $name := include "shipgate.tlsSecretName" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- $m := dict -}}
{{- if and $existing (hasKey (default dict $existing.data) "ca.crt") (hasKey $existing.data "tls.crt") (hasKey $existing.data "tls.key") -}}
{{- $m = dict "ca" (index $existing.data "ca.crt" | b64dec) "cert" (index $existing.data "tls.crt" | b64dec) "key" (index $existing.data "tls.key" | b64dec) -}}
{{- else -}}
{{- $svc := include "shipgate.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $days := int .Values.tls.validityDays -}}
{{- $ca := genCA (printf "%s-ca" $svc) $days -}}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc $ns) nil $dns $days $ca -}}
{{- $m = dict "ca" $ca.Cert "cert" $cert.Cert "key" $cert.Key -}}
{{- end -}}
{{- $_ := set .Values.tls "generated" $m -}}
{{- end -}}
{{- .Values.tls.generated | toJson -}}
{{- end -}}
