{{/*
A git-sync container (v4 flags). Called twice: once with oneTime=true as the init container,
once as the sidecar that keeps the checkout current. It publishes each commit by atomically
swapping the "mappings" symlink under its root, which statusgate reads read-only.
*/}}
{{- define "statusgate.gitSyncContainer" -}}
{{- $root := .root }}
{{- $g := $root.Values.mappings.gitSync -}}
image: {{ printf "%s:%s" $g.image.repository $g.image.tag }}
imagePullPolicy: {{ $g.image.pullPolicy }}
args:
  - --repo={{ $g.repo }}
  - --ref={{ $g.ref }}
  - --root={{ include "statusgate.gitRoot" $root }}
  - --link=mappings
  - --depth={{ $g.depth }}
  {{- if .oneTime }}
  - --one-time
  {{- else }}
  - --period={{ $g.period }}
  {{- end }}
  {{- if eq $g.auth.method "ssh" }}
  - --ssh-key-file=/etc/git-secret/ssh
  - --ssh-known-hosts=true
  - --ssh-known-hosts-file=/etc/git-secret/known_hosts
  {{- else if eq $g.auth.method "https" }}
  - --username={{ required "mappings.gitSync.auth.username is required for https auth" $g.auth.username }}
  - --password-file=/etc/git-secret/password
  {{- end }}
env:
  # git writes its config under HOME; the root filesystem is read-only.
  - name: HOME
    value: /tmp
resources:
  {{- toYaml $g.resources | nindent 2 }}
securityContext:
  {{- include "statusgate.containerSecurityContext" (dict "root" $root "override" $g.securityContextOverride) | nindent 2 }}
volumeMounts:
  - name: git
    mountPath: {{ include "statusgate.gitRoot" $root }}
  - name: git-tmp
    mountPath: /tmp
  {{- if ne $g.auth.method "none" }}
  - name: git-secret
    mountPath: /etc/git-secret
    readOnly: true
  {{- end }}
{{- end }}
