{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "nflbet-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains the chart name.
Cluster-scoped objects (ClusterRole, ClusterRoleBinding) use it, so two releases never clash.
*/}}
{{- define "nflbet-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "nflbet-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "nflbet-operator.labels" -}}
helm.sh/chart: {{ include "nflbet-operator.chart" . }}
{{ include "nflbet-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: nflbet
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels selecting every operator pod of the release. */}}
{{- define "nflbet-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nflbet-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nflbet-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nflbet-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image, also passed to the workloads unless workloads.image is set. */}}
{{- define "nflbet-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The operator instances: one per watched namespace, or one watching every namespace.
Returns a YAML list of {name, watchNamespace, lease} dicts; use with fromYamlArray.
*/}}
{{- define "nflbet-operator.instances" -}}
{{- $fullname := include "nflbet-operator.fullname" . }}
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
{{- $name := printf "%s-%s" $fullname . | trunc 63 | trimSuffix "-" }}
- name: {{ $name | quote }}
  watchNamespace: {{ . | quote }}
  lease: {{ default $name (and $.Values.leaderElection.leaseName (printf "%s-%s" $.Values.leaderElection.leaseName .)) | quote }}
{{- end }}
{{- else }}
- name: {{ $fullname | quote }}
  watchNamespace: ""
  lease: {{ default $fullname $.Values.leaderElection.leaseName | quote }}
{{- end }}
{{- end }}

{{/*
A label map as key=value pairs joined by commas, the format of NFLBET_RULE_LABELS and
NFLBET_MONITOR_LABELS. Takes (dict "labels" <map> "values" <the values it comes from, for errors>).
*/}}
{{- define "nflbet-operator.labelPairs" -}}
{{- $pairs := list }}
{{- range $k, $v := .labels }}
{{- if or (contains "," $k) (contains "," (toString $v)) (contains "=" $k) }}
{{- fail (printf "%s: %s=%s must not contain ',' (nor '=' in the key)" $.values $k (toString $v)) }}
{{- end }}
{{- $pairs = append $pairs (printf "%s=%s" $k (toString $v)) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Labels of generated PrometheusRules: monitoring.labels, then prometheusRule.extraLabels. */}}
{{- define "nflbet-operator.ruleLabels" -}}
{{- $labels := merge (deepCopy .Values.prometheusRule.extraLabels) .Values.monitoring.labels }}
{{- include "nflbet-operator.labelPairs" (dict "labels" $labels "values" "monitoring.labels, prometheusRule.extraLabels") }}
{{- end }}

{{/* Labels of generated ServiceMonitors (scrapers, models): monitoring.labels. */}}
{{- define "nflbet-operator.monitorLabels" -}}
{{- include "nflbet-operator.labelPairs" (dict "labels" .Values.monitoring.labels "values" "monitoring.labels") }}
{{- end }}

{{/* Name of every object of `nflbet telemetry` (telemetry.enabled). */}}
{{- define "nflbet-operator.telemetryName" -}}
{{- printf "%s-telemetry" (include "nflbet-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels selecting the telemetry pod: a name of its own, so that neither the operator's Service,
Deployment, PodDisruptionBudget nor NetworkPolicy selects it.
*/}}
{{- define "nflbet-operator.telemetrySelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-telemetry" (include "nflbet-operator.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nflbet-operator.telemetryLabels" -}}
helm.sh/chart: {{ include "nflbet-operator.chart" . }}
{{ include "nflbet-operator.telemetrySelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: telemetry
app.kubernetes.io/part-of: nflbet
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
