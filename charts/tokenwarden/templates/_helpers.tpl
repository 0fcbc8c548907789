{{/*
tokenwarden.fullname prefixes every name: the release name when it contains
the chart name (release "tokenwarden" renders the names of config/default),
else <release>-tokenwarden.
*/}}
{{- define "tokenwarden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
tokenwarden.labels go on every object's metadata. The pod labels and
selectors stay those of config/default (app.kubernetes.io/name only), so an
install moved between kustomize and Helm keeps its immutable selector.
*/}}
{{- define "tokenwarden.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/part-of: tokenwarden
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tokenwarden.serviceAccountName" -}}
{{ include "tokenwarden.fullname" . }}-controller-manager
{{- end -}}
