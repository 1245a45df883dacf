{{/*
The chart name, or nameOverride.
*/}}
{{- define "podwire.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The resource name prefix: fullnameOverride, else the release name, followed
by the chart name unless the release name already contains it. Truncated so
that "<fullname>-peers" still fits the 63-character DNS label limit.
*/}}
{{- define "podwire.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 57 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
chart label value: name-version.
*/}}
{{- define "podwire.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the agent pods (never change them on upgrade: a
DaemonSet's selector is immutable).
*/}}
{{- define "podwire.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podwire.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The standard labels of every object.
*/}}
{{- define "podwire.labels" -}}
helm.sh/chart: {{ include "podwire.chart" . }}
{{ include "podwire.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: podwire
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "podwire.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podwire.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is set, else
repository:tag (tag defaulting to the chart's appVersion).
*/}}
{{- define "podwire.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The API port, taken from listenAddress ("0.0.0.0:6676", "[::]:6676",
"$(NODE_IP):6676"), so that the address is set in one place.
*/}}
{{- define "podwire.port" -}}
{{- $port := regexFind "[0-9]+$" (toString .Values.listenAddress) }}
{{- if not $port }}
{{- fail (printf "listenAddress %q must end with :PORT" (toString .Values.listenAddress)) }}
{{- end }}
{{- $port | atoi }}
{{- end }}

{{/*
Name of the headless Service through which the agents find each other.
*/}}
{{- define "podwire.peersServiceName" -}}
{{- printf "%s-peers" (include "podwire.fullname" .) }}
{{- end }}
