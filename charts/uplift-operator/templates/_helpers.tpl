{{/* Names: nameOverride replaces the chart name; fullnameOverride the whole name. A release whose
name contains the chart name, or is its first word, is not doubled: releases "uplift-operator" and
"uplift" both give "uplift-operator" (never "uplift-uplift-operator"); "prod" gives
"prod-uplift-operator". */}}
{{- define "uplift-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "uplift-operator.fullname" -}}
{{- if .Values.fullnameOverride }}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "uplift-operator.name" . }}
{{- if contains $name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else if hasPrefix (printf "%s-" .Release.Name) $name }}{{ $name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}
{{- end }}

{{- define "uplift-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default (include "uplift-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{- define "uplift-operator.peeringName" -}}
{{- default (include "uplift-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* The metrics Service's name, and so the ServiceMonitor's `job`: a Service's name is a DNS label
(63 characters at most), so the full name is cut to 55 before "-metrics" (the full name alone
may be 63: a long release or fullnameOverride). */}}
{{- define "uplift-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "uplift-operator.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* The `job` label Prometheus gives the operator's scrape target, which the alerts and the
dashboards read: prometheusRule.operatorJob when set; else the ServiceMonitor's (the Service's
name); else, with a PodMonitor alone, the PodMonitor's: "<its namespace>/<its name>". */}}
{{- define "uplift-operator.operatorJob" -}}
{{- if .Values.prometheusRule.operatorJob }}{{ .Values.prometheusRule.operatorJob }}
{{- else if and .Values.podMonitor.enabled (not .Values.serviceMonitor.enabled) }}
{{- printf "%s/%s" (default .Release.Namespace .Values.podMonitor.namespace) (include "uplift-operator.fullname" .) }}
{{- else }}{{ include "uplift-operator.metricsServiceName" . }}{{ end }}
{{- end }}

{{- define "uplift-operator.labels" -}}
{{ include "uplift-operator.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "uplift-operator.selector" -}}
app.kubernetes.io/name: {{ include "uplift-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The chart's labels with a map of the values' (`list $ .Values.x.labels`), as one mapping: a
key of both once (validate.yaml refuses one the values set to another value). Rendered as text
after the chart's, such a key was a duplicate mapping key: kustomize refuses the file, Helm and
kubectl keep the last. */}}
{{- define "uplift-operator.labelsWith" -}}
{{- toYaml (merge (include "uplift-operator.labels" (index . 0) | fromYaml) (index . 1 | default dict)) }}
{{- end }}

{{/* Two labels of the metrics Service that the ServiceMonitor selects it by, with
app.kubernetes.io/name: never app.kubernetes.io/instance, which Argo CD's label tracking (its
2.x default) overwrites on every object it applies with the Application's name, the release's
only when the two are alike (an Application with another helm.releaseName would select nothing).
uplift.dev/release keeps two releases of one namespace apart. */}}
{{- define "uplift-operator.metricsServiceLabels" -}}
app.kubernetes.io/component: metrics
uplift.dev/release: {{ .Release.Name | quote }}
{{- end }}

{{/* The annotations the chart puts on the operator's pods (podAnnotations adds to them; validate.yaml
refuses one of these keys set to another value): the checksum of metricTemplates, which rolls the
pods when those change, and, with metrics.scrapeAnnotations, prometheus.io/scrape, port and path. */}}
{{- define "uplift-operator.podAnnotations" -}}
checksum/templates: {{ toYaml .Values.metricTemplates | sha256sum | quote }}
{{- if .Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.metrics | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{- define "uplift-operator.image" -}}
{{- if .Values.image.digest }}{{ printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}{{ end }}
{{- end }}

{{/* The serving pods' runtime image (UPLIFT_RUNTIME_IMAGE; the one the SeldonDeployments policy
always admits): runtimeImage when set, a pin; else the same release's runtime, at the operator's
tag (image.tag, default appVersion), so that an upgrade, --reuse-values and --set image.tag move
both together. */}}
{{- define "uplift-operator.runtimeImage" -}}
{{- .Values.runtimeImage | default (printf "ghcr.io/uplift-dev/uplift-runtime:%s" (default .Chart.AppVersion .Values.image.tag)) }}
{{- end }}

{{/* The RBAC rules, generated from operator/uplift_operator/api/rbac.py into files/. With
secretNames, the one rule that reads Secrets (get) is limited to those names; creating the
decision-key Secrets stays a rule of its own (RBAC cannot limit a create by name). The rule on the
operator's own peering object (get, patch; generated for the default name) names this release's
peering name (peeringName). */}}
{{- define "uplift-operator.rules" -}}
{{- $names := .secretNames }}
{{- $peering := .peeringName }}
{{- $rules := list }}
{{- range get (.Files.Get "files/rbac-rules.yaml" | fromYaml) .scope }}
{{- if and $names (eq (toJson .resources) "[\"secrets\"]") (eq (toJson .verbs) "[\"get\"]") }}
{{- $rules = append $rules (merge (dict "resourceNames" $names) .) }}
{{- else if and (eq (toJson .apiGroups) "[\"kopf.dev\"]") (hasKey . "resourceNames") }}
{{- $rules = append $rules (merge (dict "resourceNames" (list $peering)) .) }}
{{- else }}
{{- $rules = append $rules . }}
{{- end }}
{{- end }}
{{- toYaml $rules }}
{{- end }}
