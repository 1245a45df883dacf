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

{{/*
The API's scheme, "https" with api.tls.enabled, else "http". It is also the
name of the container port and of the Services' ports (`podwire sniff` goes
through the API server's proxy over TLS when the agent's port is named
https), and, upper-cased, the probes' scheme: every reference takes it from
here.
*/}}
{{- define "podwire.scheme" -}}
{{- if .Values.api.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/*
Who checks readers (PODWIRE_API_AUTH): "kubernetes" or "none". Fails on
anything else, and on "kubernetes" with Kubernetes off (the agent would
refuse to start).
*/}}
{{- define "podwire.apiAuth" -}}
{{- $auth := toString .Values.api.auth }}
{{- if not (has $auth (list "kubernetes" "none")) }}
{{- fail (printf "api.auth %q must be kubernetes or none" $auth) }}
{{- end }}
{{- if and (eq $auth "kubernetes") (eq (toString .Values.kubernetes) "off") }}
{{- fail "api.auth kubernetes needs kubernetes: on or auto (the API server checks the tokens)" }}
{{- end }}
{{- $auth }}
{{- end }}

{{/*
Whether the agent asks the API server about tokens (TokenReview,
SubjectAccessReview): for captures, and for reads with api.auth kubernetes.
"true" or "".
*/}}
{{- define "podwire.reviews" -}}
{{- if or .Values.capture.enabled (eq (include "podwire.apiAuth" .) "kubernetes") }}true{{ end }}
{{- end }}

{{/*
The Secret holding tls.crt, tls.key and ca.crt: api.tls.existingSecret, or
the one the chart generates.
*/}}
{{- define "podwire.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "podwire.fullname" .)) .Values.api.tls.existingSecret }}
{{- end }}

{{/*
The name every agent's certificate carries and peers verify
(PODWIRE_PEER_SERVER_NAME): the ClusterIP Service's name in the namespace,
a real name one would put in a cert-manager Certificate.
*/}}
{{- define "podwire.serverName" -}}
{{- printf "%s.%s.svc" (include "podwire.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
Where the TLS Secret is mounted in the agent container.
*/}}
{{- define "podwire.tlsDir" -}}
/etc/podwire/tls
{{- end }}

{{/*
The chart's generated CA and server certificate, as the Secret's data
(base64): the existing Secret's when it holds all three files (so that an
upgrade does not rotate them), else new ones (genCA, genSignedCert). Memoised
in .Values so that the Secret and the pods' checksum see the same one within
a render. A YAML dict.
*/}}
{{- define "podwire.generatedTLS" -}}
{{- if not (hasKey .Values.api.tls "_generated") }}
{{- $name := include "podwire.tlsSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name }}
{{- $data := dict }}
{{- if and $existing $existing.data }}
{{- $data = $existing.data }}
{{- end }}
{{- if not (and (hasKey $data "tls.crt") (hasKey $data "tls.key") (hasKey $data "ca.crt")) }}
{{- $full := include "podwire.fullname" . }}
{{- $peers := include "podwire.peersServiceName" . }}
{{- $ns := .Release.Namespace }}
{{- $dns := list (include "podwire.serverName" .) (printf "%s.%s.svc.cluster.local" $full $ns) (printf "%s.%s" $full $ns) $full (printf "%s.%s.svc" $peers $ns) (printf "%s.%s.svc.cluster.local" $peers $ns) (printf "%s.%s" $peers $ns) $peers "localhost" }}
{{- $days := int .Values.api.tls.days }}
{{- $ca := genCA (printf "%s-ca" $full) $days }}
{{- $cert := genSignedCert (include "podwire.serverName" .) (list "127.0.0.1" "::1") $dns $days $ca }}
{{- $data = dict "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) "ca.crt" ($ca.Cert | b64enc) }}
{{- end }}
{{- $_ := set .Values.api.tls "_generated" (pick $data "tls.crt" "tls.key" "ca.crt") }}
{{- end }}
{{- toYaml (get .Values.api.tls "_generated") }}
{{- end }}
