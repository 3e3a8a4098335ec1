{{/* The generated catalog: topics, daemons, timings, scaling (`daemons deploy values`). */}}
{{- define "pd.generated" -}}
{{- .Files.Get "files/generated.json" | required "files/generated.json is missing: run `daemons deploy values`" -}}
{{- end -}}

{{- define "pd.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one daemon's objects: <fullname>-<daemon>. Arguments: (list $ $name). */}}
{{- define "pd.daemonName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "pd.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pd.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: process-daemons
{{- end -}}

{{/* Labels of one daemon's objects. Arguments: (list $ $name). */}}
{{- define "pd.daemonLabels" -}}
{{ include "pd.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* What a daemon's Deployment selects. Arguments: (list $ $name). */}}
{{- define "pd.selectorLabels" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "pd.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "pd.caSecret" -}}
{{- .Values.kafka.caSecret | default (printf "%s-cluster-ca-cert" .Values.kafka.cluster) -}}
{{- end -}}
