{{/*
Name of every object of the preview. Service names must be DNS-1035 labels (start with a letter),
so a release name starting with a digit gets a prefix.
*/}}
{{- define "berth-preview.fullname" -}}
{{- $name := .Values.fullnameOverride | default .Release.Name -}}
{{- if regexMatch "^[0-9]" $name -}}
{{- $name = printf "p-%s" $name -}}
{{- end -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "berth-preview.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "berth-preview.labels" -}}
{{ include "berth-preview.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: berth
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | quote }}
{{- end -}}
