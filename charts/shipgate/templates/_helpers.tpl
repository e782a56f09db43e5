{{/* shipgate.name is the chart's name, or nameOverride. */}}
{{- define "shipgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* shipgate.fullname names the release's objects. */}}
{{- define "shipgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "shipgate.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "shipgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "shipgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shipgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "shipgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "shipgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "shipgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "shipgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "shipgate.tlsSecretName" -}}
{{- printf "%s-tls" (include "shipgate.fullname" .) -}}
{{- end -}}

{{- define "shipgate.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* shipgate.postgres is "true" when the store is PostgreSQL. */}}
{{- define "shipgate.postgres" -}}
{{- if .Values.store.postgres.urlSecret.name -}}true{{- end -}}
{{- end -}}

{{/*
shipgate.validate fails the render on values that cannot work: several
replicas writing one SQLite file would each keep a separate audit log.
*/}}
{{- define "shipgate.validate" -}}
{{- if lt (int .Values.replicas) 1 -}}
{{- fail "replicas must be at least 1" -}}
{{- end -}}
{{- if and (gt (int .Values.replicas) 1) (not (include "shipgate.postgres" .)) -}}
{{- fail (printf "replicas=%d needs a PostgreSQL store: set store.postgres.urlSecret.name (the embedded SQLite store serves one replica)" (int .Values.replicas)) -}}
{{- end -}}
{{- if and (include "shipgate.postgres" .) (not (dig "audit" "checkpointKey" "" (default dict .Values.config))) -}}
{{- fail "a PostgreSQL store needs config.audit.checkpointKey (every replica signs checkpoints with one key; a secretRef also needs its Secret in rbac.secrets)" -}}
{{- end -}}
{{- if and .Values.webhook.url (not .Values.webhook.caBundle) -}}
{{- fail "webhook.url needs webhook.caBundle: the PEM CA that signed the certificate shipgate serves at that URL" -}}
{{- end -}}
{{- if and .Values.webhook.url .Values.tls.certManager.enabled -}}
{{- fail "webhook.url and tls.certManager.enabled do not go together: cainjector would overwrite webhook.caBundle" -}}
{{- end -}}
{{- if hasKey (default dict .Values.config.store) "url" -}}
{{- fail "config.store.url is set by the chart from store: (sqlite or store.postgres.urlSecret); leave it out of config" -}}
{{- end -}}
{{- end -}}

{{/*
shipgate.namespaceSelector keeps kube-system, the chart's own namespace and
webhook.excludeNamespaces away from shipgate.
*/}}
{{- define "shipgate.namespaceSelector" -}}
{{- $excluded := concat .Values.webhook.excludeNamespaces (list .Release.Namespace) | uniq -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
      {{- range $excluded }}
        - {{ . | quote }}
      {{- end }}
  {{- with .Values.webhook.namespaceSelectorExpressions }}
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* shipgate.clientConfig points a webhook at shipgate's path $.path. */}}
{{- define "shipgate.clientConfig" -}}
{{- $ := .root -}}
clientConfig:
{{- if $.Values.webhook.url }}
  url: {{ printf "%s%s" (trimSuffix "/" $.Values.webhook.url) .path | quote }}
  caBundle: {{ $.Values.webhook.caBundle | b64enc }}
{{- else }}
  service:
    name: {{ include "shipgate.fullname" $ }}
    namespace: {{ $.Release.Namespace }}
    path: {{ .path }}
    port: {{ $.Values.service.port }}
  {{- if not $.Values.tls.certManager.enabled }}
  caBundle: {{ .caBundle }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
shipgate.rules are the objects shipgate judges: every kind that carries a
pod template, bare Pods, and ephemeral containers added to a running Pod.
*/}}
{{- define "shipgate.rules" -}}
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]
    scope: Namespaced
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
    scope: Namespaced
  - apiGroups: ["batch"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["jobs", "cronjobs"]
    scope: Namespaced
{{- end -}}
