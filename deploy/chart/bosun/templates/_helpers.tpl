{{/* The release's base name: the release name when it says "bosun", else <release>-bosun. */}}
{{- define "bosun.fullname" -}}
{{- if contains "bosun" .Release.Name -}}
{{- .Release.Name | trunc 56 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-bosun" .Release.Name | trunc 56 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The worker's objects (Deployment, Service, Roles …): <fullname>-worker, "bosun-worker" for release "bosun". */}}
{{- define "bosun.worker" -}}
{{- printf "%s-worker" (include "bosun.fullname" .) -}}
{{- end -}}

{{- define "bosun.serviceAccountName" -}}
{{- default (include "bosun.worker" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "bosun.controlNamespace" -}}
{{- default .Release.Namespace .Values.controlNamespace -}}
{{- end -}}

{{/* Labels: the kustomize install's, plus Helm's. */}}
{{- define "bosun.labels" -}}
app.kubernetes.io/name: {{ include "bosun.worker" . }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: bosun
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "bosun.selector" -}}
app.kubernetes.io/name: {{ include "bosun.worker" . }}
{{- end -}}
