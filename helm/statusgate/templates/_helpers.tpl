{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "statusgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name alone when it already contains the chart name. */}}
{{- define "statusgate.fullname" -}}
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

{{- define "statusgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "statusgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "statusgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "statusgate.labels" -}}
helm.sh/chart: {{ include "statusgate.chart" . }}
{{ include "statusgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: statusgate
{{- end }}

{{- define "statusgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "statusgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "statusgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Fixed in-pod paths; the image and the rendered config agree on them. */}}
{{- define "statusgate.configDir" -}}/etc/statusgate{{- end }}
{{- define "statusgate.dataDir" -}}/var/lib/statusgate{{- end }}
{{- define "statusgate.secretsDir" -}}/var/run/secrets/statusgate{{- end }}
{{- define "statusgate.gitRoot" -}}/var/lib/git-sync{{- end }}

{{/*
Mapping files directory. With git-sync it is reached through git-sync's symlink, which is
swapped atomically on every new commit.
*/}}
{{- define "statusgate.mappingsPath" -}}
{{- if eq .Values.mappings.source "gitSync" }}
{{- $sub := trimAll "/" .Values.mappings.gitSync.subPath }}
{{- if $sub }}
{{- printf "%s/mappings/%s" (include "statusgate.gitRoot" .) $sub }}
{{- else }}
{{- printf "%s/mappings" (include "statusgate.gitRoot" .) }}
{{- end }}
{{- else }}
{{- printf "%s/mappings" (include "statusgate.configDir" .) }}
{{- end }}
{{- end }}

{{- define "statusgate.templatesPath" -}}
{{- if .Values.templates.existingConfigMap }}
{{- printf "%s/templates" (include "statusgate.configDir" .) }}
{{- else }}/usr/share/statusgate/templates{{- end }}
{{- end }}

{{- define "statusgate.mappingsConfigMap" -}}
{{- if eq .Values.mappings.source "existingConfigMap" }}
{{- required "mappings.existingConfigMap is required when mappings.source is existingConfigMap" .Values.mappings.existingConfigMap }}
{{- else }}
{{- printf "%s-mappings" (include "statusgate.fullname" .) }}
{{- end }}
{{- end }}

{{/* "true" when the state lives in PostgreSQL (shared by replicas), empty for sled. */}}
{{- define "statusgate.postgres" -}}
{{- if eq .Values.storage.engine "postgres" }}true{{ end }}
{{- end }}

{{/*
Every existing Secret the pod mounts, as a YAML list of {id, name, key, env?}.
Each one is mounted at <secretsDir>/<id>/<key>; "env" names the *_FILE variable pointing at it,
the others are referenced by *_file keys in the rendered config.
*/}}
{{- define "statusgate.secretRefs" -}}
{{- $refs := list }}
{{- $envs := dict "adminToken" (list "admin-token" "STATUSGATE_ADMIN_TOKEN_FILE") "alertmanagerToken" (list "alertmanager-token" "STATUSGATE_ALERTMANAGER_TOKEN_FILE") "pagerdutySecrets" (list "pagerduty-secrets" "STATUSGATE_PAGERDUTY_SECRETS_FILE") "slackSigningSecret" (list "slack-signing-secret" "STATUSGATE_SLACK_SIGNING_SECRET_FILE") "slackBotToken" (list "slack-bot-token" "STATUSGATE_SLACK_BOT_TOKEN_FILE") }}
{{- range $field := list "adminToken" "alertmanagerToken" "pagerdutySecrets" "slackSigningSecret" "slackBotToken" }}
{{- $s := index $.Values.secrets $field }}
{{- if $s.name }}
{{- $refs = append $refs (dict "id" (index $envs $field 0) "name" $s.name "key" $s.key "env" (index $envs $field 1)) }}
{{- end }}
{{- end }}
{{- if include "statusgate.postgres" . }}
{{- $st := .Values.storage.existingSecret }}
{{- $refs = append $refs (dict "id" "storage-url" "name" (required "storage.existingSecret.name is required when storage.engine is postgres" $st.name) "key" $st.key "env" "STATUSGATE_STORAGE_URL_FILE") }}
{{- end }}
{{- $c := .Values.config }}
{{- range $t := $c.auth.tokens }}
{{- $refs = append $refs (dict "id" (printf "token-%s" $t.name) "name" $t.secretRef.name "key" $t.secretRef.key) }}
{{- end }}
{{- with $c.sources.alertmanager.basic }}
{{- $refs = append $refs (dict "id" "alertmanager-basic" "name" .secretRef.name "key" .secretRef.key) }}
{{- end }}
{{- range $i, $am := $c.reconcile.alertmanagers }}
{{- with $am.basic_auth }}
{{- $refs = append $refs (dict "id" (printf "reconcile-%d-basic" $i) "name" .secretRef.name "key" .secretRef.key) }}
{{- end }}
{{- with $am.bearerTokenSecretRef }}
{{- $refs = append $refs (dict "id" (printf "reconcile-%d-bearer" $i) "name" .name "key" .key) }}
{{- end }}
{{- end }}
{{- range $p := $c.publishers }}
{{- $refs = append $refs (dict "id" (printf "publisher-%s" $p.name) "name" $p.secretRef.name "key" $p.secretRef.key) }}
{{- end }}
{{- with $c.smtp.secretRef }}
{{- $refs = append $refs (dict "id" "smtp-password" "name" .name "key" .key) }}
{{- end }}
{{- toYaml (dict "refs" $refs) }}
{{- end }}

{{/* Path of a mounted secret, from its id and key. */}}
{{- define "statusgate.secretPath" -}}
{{- printf "%s/%s/%s" (include "statusgate.secretsDir" .root) .id .key }}
{{- end }}

{{/*
The service's config.yaml. Only keys the user set appear (plus the paths the chart owns),
so the service's defaults apply to the rest and `statusgate check` accepts the file as is.
*/}}
{{- define "statusgate.config" -}}
{{- $root := . }}
{{- $c := .Values.config }}
{{- $out := dict
  "listen" (printf "0.0.0.0:%d" (int .Values.containerPort))
  "mappings" (include "statusgate.mappingsPath" .)
  "templates" (include "statusgate.templatesPath" .) }}
{{- /* With PostgreSQL the pods keep nothing on disk: no data_dir, no volume. */}}
{{- $storage := dict }}
{{- if include "statusgate.postgres" . }}
{{- $_ := set $storage "url_file" (include "statusgate.secretPath" (dict "root" $root "id" "storage-url" "key" .Values.storage.existingSecret.key)) }}
{{- else }}
{{- $_ := set $out "data_dir" (include "statusgate.dataDir" .) }}
{{- end }}
{{- with .Values.storage.lease }}
{{- $_ := set $storage "lease" . }}
{{- end }}
{{- with .Values.storage.reserve }}
{{- $_ := set $storage "reserve" . }}
{{- end }}
{{- if $storage }}
{{- $_ := set $out "storage" $storage }}
{{- end }}
{{- range $k := list "public_url" "max_body" "shutdown_timeout" "grouping" "redaction" "limits" "storm" "watchdog" "page" "uptime" "slack" "delivery" }}
{{- with index $c $k }}
{{- $_ := set $out $k (deepCopy .) }}
{{- end }}
{{- end }}
{{- $slack := get $out "slack" | default dict }}
{{- with $.Values.secrets.slackSigningSecret.name }}
{{- $_ := set $slack "signing_secret_file" (include "statusgate.secretPath" (dict "root" $root "id" "slack-signing-secret" "key" $.Values.secrets.slackSigningSecret.key)) }}
{{- end }}
{{- with $.Values.secrets.slackBotToken.name }}
{{- $_ := set $slack "bot_token_file" (include "statusgate.secretPath" (dict "root" $root "id" "slack-bot-token" "key" $.Values.secrets.slackBotToken.key)) }}
{{- end }}
{{- if $slack }}
{{- $_ := set $out "slack" $slack }}
{{- end }}
{{- with $c.auth.tokens }}
{{- $tokens := list }}
{{- range $t := . }}
{{- $tokens = append $tokens (dict "name" $t.name "role" $t.role "token_file" (include "statusgate.secretPath" (dict "root" $root "id" (printf "token-%s" $t.name) "key" $t.secretRef.key))) }}
{{- end }}
{{- $_ := set $out "auth" (dict "tokens" $tokens) }}
{{- end }}
{{- /* Secrets that also have a *_FILE variable are named in the config too, so the file alone says where they are. */}}
{{- $sec := .Values.secrets }}
{{- $am := dict }}
{{- with $sec.alertmanagerToken.name }}
{{- $_ := set $am "token_file" (include "statusgate.secretPath" (dict "root" $root "id" "alertmanager-token" "key" $sec.alertmanagerToken.key)) }}
{{- end }}
{{- with $c.sources.alertmanager.basic }}
{{- $_ := set $am "basic" (dict "username" .username "password_file" (include "statusgate.secretPath" (dict "root" $root "id" "alertmanager-basic" "key" .secretRef.key))) }}
{{- end }}
{{- $pd := dict }}
{{- with $sec.pagerdutySecrets.name }}
{{- $_ := set $pd "secrets_file" (include "statusgate.secretPath" (dict "root" $root "id" "pagerduty-secrets" "key" $sec.pagerdutySecrets.key)) }}
{{- end }}
{{- with $c.sources.pagerduty.severity }}
{{- $_ := set $pd "severity" . }}
{{- end }}
{{- $sources := dict }}
{{- if $am }}{{ $_ := set $sources "alertmanager" $am }}{{ end }}
{{- if $pd }}{{ $_ := set $sources "pagerduty" $pd }}{{ end }}
{{- if $sources }}
{{- $_ := set $out "sources" $sources }}
{{- end }}
{{- $reconcile := dict }}
{{- with $c.reconcile.interval }}
{{- $_ := set $reconcile "interval" . }}
{{- end }}
{{- with $c.reconcile.alertmanagers }}
{{- $ams := list }}
{{- range $i, $am := . }}
{{- $item := dict "url" $am.url }}
{{- with $am.basic_auth }}
{{- $_ := set $item "basic_auth" (dict "username" .username "password_file" (include "statusgate.secretPath" (dict "root" $root "id" (printf "reconcile-%d-basic" $i) "key" .secretRef.key))) }}
{{- end }}
{{- with $am.bearerTokenSecretRef }}
{{- $_ := set $item "bearer_token_file" (include "statusgate.secretPath" (dict "root" $root "id" (printf "reconcile-%d-bearer" $i) "key" .key)) }}
{{- end }}
{{- $ams = append $ams $item }}
{{- end }}
{{- $_ := set $reconcile "alertmanagers" $ams }}
{{- end }}
{{- if $reconcile }}
{{- $_ := set $out "reconcile" $reconcile }}
{{- end }}
{{- with $c.publishers }}
{{- $pubs := list }}
{{- range $p := . }}
{{- $item := omit $p "secretRef" }}
{{- $file := include "statusgate.secretPath" (dict "root" $root "id" (printf "publisher-%s" $p.name) "key" $p.secretRef.key) }}
{{- if eq $p.type "statuspage" }}
{{- $_ := set $item "api_key_file" $file }}
{{- else }}
{{- $_ := set $item "secret_file" $file }}
{{- end }}
{{- $pubs = append $pubs $item }}
{{- end }}
{{- $_ := set $out "publishers" $pubs }}
{{- end }}
{{- with $c.smtp }}
{{- $smtp := omit . "secretRef" }}
{{- with .secretRef }}
{{- $_ := set $smtp "password_file" (include "statusgate.secretPath" (dict "root" $root "id" "smtp-password" "key" .key)) }}
{{- end }}
{{- $_ := set $out "smtp" $smtp }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* Security context for one container: the shared hardened context plus an override. */}}
{{- define "statusgate.containerSecurityContext" -}}
{{- $ctx := deepCopy .root.Values.containerSecurityContext }}
{{- with .override }}
{{- $ctx = mustMergeOverwrite $ctx (deepCopy .) }}
{{- end }}
{{- toYaml $ctx }}
{{- end }}
