{{- define "uplift-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "uplift-operator.labels" -}}
app.kubernetes.io/name: uplift-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "uplift-operator.selector" -}}
app.kubernetes.io/name: uplift-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
