{{- define "dotpool.fullname" -}}
{{ .Release.Name }}-dotpool
{{- end }}

{{- define "dotpool.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "dotpool.labels" -}}
app.kubernetes.io/name: dotpool
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dotpool.commonEnv" -}}
- name: DOTPOOL_UPSTREAMS
  value: {{ join " " .Values.upstreams | quote }}
- name: DOTPOOL_ZONE
  value: {{ .Values.zone | quote }}
- name: DOTPOOL_METRICS_PORT
  value: {{ .Values.metricsPort | quote }}
- name: DOTPOOL_VERBOSITY
  value: {{ .Values.verbosity | quote }}
- name: DOTPOOL_DNSSEC
  value: {{ if .Values.dnssec }}"yes"{{ else }}"no"{{ end }}
{{- if .Values.clusterDNS }}
- name: DOTPOOL_CLUSTER_DNS
  value: {{ .Values.clusterDNS | quote }}
- name: DOTPOOL_CLUSTER_DOMAIN
  value: {{ .Values.clusterDomain | quote }}
{{- end }}
{{- end }}

{{- define "dotpool.probes" -}}
readinessProbe:
  exec:
    command: ["/usr/local/bin/dotpool-ready", "--min-up", {{ .Values.minUpstreamsUp | quote }}]
  periodSeconds: 10
  timeoutSeconds: 3
livenessProbe:
  exec:
    command: ["/usr/local/bin/dotpool-ready", "--control"]
  initialDelaySeconds: 10
  periodSeconds: 20
  timeoutSeconds: 3
{{- end }}
