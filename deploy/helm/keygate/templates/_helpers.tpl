{{/* Names and labels, as `helm create` makes them. */}}
{{- define "keygate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "keygate.fullname" -}}
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

{{- define "keygate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keygate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "keygate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "keygate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "keygate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keygate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "keygate.secretName" -}}
{{- default (include "keygate.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
The secrets keygate reads from files (KEYGATE_*_FILE), as a JSON list of
{env, key, path}: from secrets.existingSecret, the keys named in secrets.keys; from the
generated Secret, the values given (and a token salt for the valkey store, always).
*/}}
{{- define "keygate.secretItems" -}}
{{- $items := list }}
{{- $s := .Values.secrets }}
{{- if $s.existingSecret }}
{{- with $s.keys.tokenSalt }}{{ $items = append $items (dict "env" "KEYGATE_TOKEN_SALT_FILE" "key" . "path" "token-salt") }}{{ end }}
{{- with $s.keys.adminKey }}{{ $items = append $items (dict "env" "KEYGATE_ADMIN_KEY_FILE" "key" . "path" "admin-key") }}{{ end }}
{{- with $s.keys.valkeyPassword }}{{ $items = append $items (dict "env" "KEYGATE_VALKEY_PASSWORD_FILE" "key" . "path" "valkey-password") }}{{ end }}
{{- else }}
{{- if or $s.tokenSalt (eq .Values.store "valkey") }}{{ $items = append $items (dict "env" "KEYGATE_TOKEN_SALT_FILE" "key" "token-salt" "path" "token-salt") }}{{ end }}
{{- if $s.adminKey }}{{ $items = append $items (dict "env" "KEYGATE_ADMIN_KEY_FILE" "key" "admin-key" "path" "admin-key") }}{{ end }}
{{- if $s.valkeyPassword }}{{ $items = append $items (dict "env" "KEYGATE_VALKEY_PASSWORD_FILE" "key" "valkey-password" "path" "valkey-password") }}{{ end }}
{{- end }}
{{- toJson $items }}
{{- end }}

{{/*
keygate.toml from a map. Helm reads every number as a float, and `toToml` writes 8080 as
8080.0, which keygate rightly refuses for an integer setting; this writes whole numbers as
integers. Scalars and arrays first, then one [table] per nested map (recursively);
arrays of maps become arrays of inline tables (key_files).
*/}}
{{- define "keygate.tomlKey" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{- define "keygate.tomlValue" -}}
{{- $v := . }}
{{- if kindIs "string" $v }}{{ toJson $v }}
{{- else if kindIs "bool" $v }}{{ $v }}
{{- else if or (kindIs "float64" $v) (kindIs "float32" $v) }}{{ if eq $v (floor $v) }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else if kindIs "slice" $v }}[{{ range $i, $e := $v }}{{ if $i }}, {{ end }}{{ include "keygate.tomlValue" $e }}{{ end }}]
{{- else if kindIs "map" $v }}{ {{- range $i, $k := keys $v | sortAlpha }}{{ if $i }},{{ end }} {{ include "keygate.tomlKey" $k }} = {{ include "keygate.tomlValue" (get $v $k) }}{{ end }} }
{{- else }}{{ $v }}
{{- end }}
{{- end }}

{{- define "keygate.tomlTable" -}}
{{- $m := .map }}
{{- $prefix := .prefix }}
{{- range $k := keys $m | sortAlpha }}
{{- $v := get $m $k }}
{{- if and (not (kindIs "map" $v)) (not (kindIs "invalid" $v)) }}
{{ include "keygate.tomlKey" $k }} = {{ include "keygate.tomlValue" $v }}
{{- end }}
{{- end }}
{{- range $k := keys $m | sortAlpha }}
{{- $v := get $m $k }}
{{- if kindIs "map" $v }}
{{- $name := printf "%s%s" $prefix (include "keygate.tomlKey" $k) }}

[{{ $name }}]
{{- include "keygate.tomlTable" (dict "map" $v "prefix" (printf "%s." $name)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The settings the chart owns, merged over .Values.config. */}}
{{- define "keygate.config" -}}
{{- $c := deepCopy .Values.config }}
{{- $_ := set $c "port" .Values.containerPort }}
{{- $_ := set $c "metrics_enabled" .Values.metrics.enabled }}
{{- if .Values.metrics.port }}
{{- $_ := set $c "metrics_address" (printf "0.0.0.0:%v" .Values.metrics.port) }}
{{- end }}
{{- if and (eq .Values.store "valkey") .Values.valkey.url (not .Values.valkey.existingSecret) }}
{{- $_ := set $c "valkey_url" .Values.valkey.url }}
{{- end }}
{{- $p := .Values.proxy }}
{{- if $p.enabled }}
{{- /* [proxy]: config.proxy (timeouts, pools, …) and what the chart owns over it. */}}
{{- $pc := deepCopy (get $c "proxy" | default (dict)) }}
{{- with $p.upstream }}{{ $_ := set $pc "upstream" . }}{{ end }}
{{- $_ := set $pc "port" $p.port }}
{{- if $p.tls.existingSecret }}
{{- $_ := set $pc "tls_cert_file" (printf "%s/tls.crt" (include "keygate.proxyTlsDir" .)) }}
{{- $_ := set $pc "tls_key_file" (printf "%s/tls.key" (include "keygate.proxyTlsDir" .)) }}
{{- end }}
{{- if or $p.upstreamCA.existingSecret $p.upstreamCA.existingConfigMap }}
{{- $_ := set $pc "upstream_ca_file" (printf "%s/ca.crt" (include "keygate.upstreamCADir" .)) }}
{{- end }}
{{- if $p.assertion.enabled }}
{{- $_ := set $pc "assertion" (deepCopy $p.assertion) }}
{{- end }}
{{- $_ := set $c "proxy" $pc }}
{{- end }}
{{- $g := .Values.grpc }}
{{- if $g.enabled }}
{{- $port := int $g.port }}
{{- if or (eq $port (int .Values.containerPort)) (eq $port (int .Values.metrics.port)) (and $p.enabled (eq $port (int $p.port))) }}
{{- fail (printf "grpc.port %d is taken: it must differ from containerPort, metrics.port and proxy.port" $port) }}
{{- end }}
{{- /* [grpc]: config.grpc (keep_credential, limits, …), switched on at grpc.port. No
address: keygate then takes the main one, 0.0.0.0 (KEYGATE_ADDRESS). */}}
{{- $gc := deepCopy (get $c "grpc" | default (dict)) }}
{{- $_ := set $gc "enabled" true }}
{{- $_ := set $gc "port" $g.port }}
{{- $_ := set $c "grpc" $gc }}
{{- end }}
{{- include "keygate.tomlTable" (dict "map" $c "prefix" "") | trim }}
{{- if $p.enabled }}
{{- range $p.routes }}

[[proxy.routes]]
{{- include "keygate.tomlTable" (dict "map" . "prefix" "proxy.routes.") }}
{{- end }}
{{- end }}
{{- end }}

{{/* Where the proxy's certificate and the upstreams' CA are mounted. */}}
{{- define "keygate.proxyTlsDir" -}}
/etc/keygate/proxy-tls
{{- end }}

{{- define "keygate.upstreamCADir" -}}
/etc/keygate/upstream-ca
{{- end }}

{{/* Health paths follow config.base_path, like every route keygate serves. */}}
{{- define "keygate.basePath" -}}
{{- .Values.config.base_path | default "" }}
{{- end }}
