{{/*
The pod template, shared by the StatefulSet (sled) and the Deployment (PostgreSQL). It starts
with a newline and keeps its own indentation: include it right after the workload's selector.
*/}}
{{- define "statusgate.podTemplate" }}
{{- $root := . }}
{{- $refs := (include "statusgate.secretRefs" . | fromYaml).refs }}
{{- $git := .Values.mappings.gitSync }}
{{- $useGit := eq .Values.mappings.source "gitSync" }}
{{- $pg := include "statusgate.postgres" . }}
{{- if and $useGit (not $git.repo) }}
{{- fail "mappings.gitSync.repo is required when mappings.source is gitSync" }}
{{- end }}
  template:
    metadata:
      labels:
        {{- include "statusgate.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Config changes roll the pod. The mappings ConfigMap is deliberately not hashed:
        # the file watcher reloads mapping files live.
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "statusgate.serviceAccountName" . }}
      automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
      # Without this, Kubernetes injects STATUSGATE_PORT=tcp://… and similar variables for the
      # "statusgate" Service, which collide with the service's own STATUSGATE_* settings.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      {{- if $useGit }}
      initContainers:
        # Fetch the mappings once before statusgate starts, so its catalog is complete from the first request.
        - name: git-sync-init
          {{- include "statusgate.gitSyncContainer" (dict "root" $root "oneTime" true) | nindent 10 }}
      {{- end }}
      containers:
        - name: statusgate
          image: {{ include "statusgate.image" . }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          args: ["serve", "--config", "{{ include "statusgate.configDir" . }}/config.yaml"]
          env:
            - name: STATUSGATE_LISTEN
              value: "0.0.0.0:{{ .Values.containerPort }}"
            - name: STATUSGATE_LOG_FORMAT
              value: {{ .Values.logFormat | quote }}
            - name: RUST_LOG
              value: {{ .Values.logLevel | quote }}
            {{- range $refs }}
            {{- if .env }}
            - name: {{ .env }}
              value: {{ include "statusgate.secretPath" (dict "root" $root "id" .id "key" .key) | quote }}
            {{- end }}
            {{- end }}
            {{- with .Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: http
              containerPort: {{ .Values.containerPort }}
              protocol: TCP
          startupProbe:
            {{- toYaml .Values.probes.startup | nindent 12 }}
          livenessProbe:
            {{- toYaml .Values.probes.liveness | nindent 12 }}
          readinessProbe:
            {{- toYaml .Values.probes.readiness | nindent 12 }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "statusgate.containerSecurityContext" (dict "root" .) | nindent 12 }}
          volumeMounts:
            # A single file from a ConfigMap: fine here, since any config change rolls the pod.
            - name: config
              mountPath: {{ include "statusgate.configDir" . }}/config.yaml
              subPath: config.yaml
              readOnly: true
            {{- if $useGit }}
            - name: git
              mountPath: {{ include "statusgate.gitRoot" . }}
              readOnly: true
            {{- else }}
            # Mounted as a directory, never with subPath: a subPath mount never sees ConfigMap updates,
            # and live reload of mappings would silently stop.
            - name: mappings
              mountPath: {{ include "statusgate.configDir" . }}/mappings
              readOnly: true
            {{- end }}
            {{- if .Values.templates.existingConfigMap }}
            - name: templates
              mountPath: {{ include "statusgate.templatesPath" . }}
              readOnly: true
            {{- end }}
            {{- if not $pg }}
            - name: data
              mountPath: {{ include "statusgate.dataDir" . }}
            {{- end }}
            - name: tmp
              mountPath: /tmp
            {{- range $refs }}
            - name: {{ printf "secret-%s" .id | trunc 63 | trimSuffix "-" }}
              mountPath: {{ include "statusgate.secretsDir" $root }}/{{ .id }}
              readOnly: true
            {{- end }}
        {{- if $useGit }}
        - name: git-sync
          {{- include "statusgate.gitSyncContainer" (dict "root" $root "oneTime" false) | nindent 10 }}
        {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "statusgate.fullname" . }}-config
        {{- if $useGit }}
        - name: git
          emptyDir: {}
        - name: git-tmp
          emptyDir: {}
        {{- if ne $git.auth.method "none" }}
        - name: git-secret
          secret:
            secretName: {{ required "mappings.gitSync.auth.secretName is required when auth.method is not none" $git.auth.secretName }}
            defaultMode: 0440
            items:
              {{- if eq $git.auth.method "ssh" }}
              - key: {{ $git.auth.sshKeyKey }}
                path: ssh
              - key: {{ $git.auth.knownHostsKey }}
                path: known_hosts
              {{- else }}
              - key: {{ $git.auth.passwordKey }}
                path: password
              {{- end }}
        {{- end }}
        {{- else }}
        - name: mappings
          configMap:
            name: {{ include "statusgate.mappingsConfigMap" . }}
        {{- end }}
        {{- if .Values.templates.existingConfigMap }}
        - name: templates
          configMap:
            name: {{ .Values.templates.existingConfigMap }}
        {{- end }}
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- range $refs }}
        - name: {{ printf "secret-%s" .id | trunc 63 | trimSuffix "-" }}
          secret:
            secretName: {{ .name }}
            # Owned by root, readable through fsGroup only.
            defaultMode: 0440
            items:
              - key: {{ .key }}
                path: {{ .key }}
        {{- end }}
        {{- if not $pg }}
        {{- with .Values.persistence.existingClaim }}
        - name: data
          persistentVolumeClaim:
            claimName: {{ . }}
        {{- end }}
        {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $spread := .Values.topologySpreadConstraints }}
      {{- if kindIs "invalid" $spread }}
      {{- if gt (int .Values.replicaCount) 1 }}
      # Replicas on different nodes, so losing one node leaves the others serving. Soft, so a
      # cluster with fewer nodes than replicas still runs them all.
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "statusgate.selectorLabels" . | nindent 14 }}
          {{- if $pg }}
          # Count only the pods of the current revision during a rollout.
          matchLabelKeys:
            - pod-template-hash
          {{- end }}
      {{- end }}
      {{- else if $spread }}
      topologySpreadConstraints:
        {{- toYaml $spread | nindent 8 }}
      {{- end }}
{{- end }}
