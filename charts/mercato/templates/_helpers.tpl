{{/* Release-scoped base name, e.g. "mercato". */}}
{{- define "mercato.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: (dict "root" $ "name" "order") -> "mercato-order". */}}
{{- define "mercato.componentName" -}}
{{- printf "%s-%s" (include "mercato.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mercato.baseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mercato
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "mercato.commonLabels" -}}
{{ include "mercato.baseLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of a component: (dict "root" $ "name" "order"). */}}
{{- define "mercato.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "mercato.labels" -}}
{{ include "mercato.baseLabels" .root }}
{{ include "mercato.selectorLabels" . }}
app: {{ .name }}
version: {{ .root.Chart.AppVersion | quote }}
{{- end -}}

{{/* A service's settings: serviceDefaults overlaid with services.<name>. Returns YAML; use fromYaml. */}}
{{- define "mercato.settings" -}}
{{- $svc := index .root.Values.services .name -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $svc)) -}}
{{- end -}}

{{- define "mercato.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if eq (toString $tag) "latest" -}}
{{- fail "image.tag must be a pinned version, not latest" -}}
{{- end -}}
{{- printf "%s/%s%s:%s" .root.Values.image.registry .root.Values.image.prefix .name $tag -}}
{{- end -}}

{{/* In-cluster DNS name of a component's Service. */}}
{{- define "mercato.host" -}}
{{- printf "%s.%s.svc.cluster.local" (include "mercato.componentName" .) .root.Release.Namespace -}}
{{- end -}}

{{/* The gRPC target an upstream is called at: dns:/// lets grpc-js round-robin over every pod of a
headless Service (no mesh); under Istio the ClusterIP is used and Envoy balances per request. */}}
{{- define "mercato.upstreamAddress" -}}
{{- $svc := index .root.Values.services .name -}}
{{- if .root.Values.istio.enabled -}}
{{- printf "%s:%v" (include "mercato.host" .) $svc.grpcPort -}}
{{- else -}}
{{- printf "dns:///%s:%v" (include "mercato.host" .) $svc.grpcPort -}}
{{- end -}}
{{- end -}}

{{/* Callers of a service according to the call graph, as a YAML list. */}}
{{- define "mercato.callers" -}}
{{- $callers := list -}}
{{- range $caller, $upstreams := .root.Values.callGraph -}}
{{- if has $.name $upstreams -}}
{{- $callers = append $callers $caller -}}
{{- end -}}
{{- end -}}
{{- toYaml $callers -}}
{{- end -}}

{{- define "mercato.serviceAccountName" -}}
{{- include "mercato.componentName" . -}}
{{- end -}}

{{/* Name of the Secret holding a service's DATABASE_URL. */}}
{{- define "mercato.databaseSecret" -}}
{{- if .root.Values.postgres.enabled -}}
{{- printf "%s-database" (include "mercato.componentName" .) -}}
{{- else -}}
{{- .root.Values.database.existingSecretTemplate | replace "{release}" .root.Release.Name | replace "{service}" .name -}}
{{- end -}}
{{- end -}}

{{- define "mercato.natsUrl" -}}
{{- printf "nats://%s:4222" (include "mercato.host" (dict "root" .root "name" "nats")) -}}
{{- end -}}

{{- define "mercato.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mercato.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ not .Values.dev.liveUpdate }}
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment every service container gets (the service, and its migration Job). */}}
{{- define "mercato.serviceEnv" -}}
{{- $s := fromYaml (include "mercato.settings" .) -}}
- name: SERVICE_NAME
  value: {{ .name | quote }}
{{- if not $s.edge }}
- name: GRPC_HOST
  value: "0.0.0.0"
- name: GRPC_PORT
  value: {{ $s.grpcPort | quote }}
{{- else }}
- name: HOST
  value: "0.0.0.0"
- name: ADMIN_HOST
  value: "0.0.0.0"
- name: PORT
  value: {{ $s.grpcPort | quote }}
{{- /* Rate limits are per replica (limit / GATEWAY_REPLICAS, docs/decisions.md): the count that shares
them is the fixed replica count, or the HPA's floor, unless rateLimitReplicas pins it. */}}
- name: GATEWAY_REPLICAS
  value: {{ $s.rateLimitReplicas | default ($s.autoscaling.enabled | ternary $s.autoscaling.minReplicas $s.replicas) | quote }}
- name: TRUSTED_PROXY_HOPS
  value: {{ (eq (toString $s.trustedProxyHops) "") | ternary (.root.Values.istio.enabled | ternary 1 0) $s.trustedProxyHops | quote }}
{{- end }}
- name: ADMIN_PORT
  value: {{ $s.adminPort | quote }}
{{- if $s.database }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mercato.databaseSecret" . }}
      key: {{ .root.Values.postgres.enabled | ternary "url" .root.Values.database.key }}
{{- end }}
{{- if $s.nats }}
{{- if .root.Values.nats.enabled }}
- name: NATS_URL
  value: {{ include "mercato.natsUrl" . | quote }}
{{- else }}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "nats.external.existingSecret is required when nats.enabled is false" .root.Values.nats.external.existingSecret }}
      key: {{ .root.Values.nats.external.key }}
{{- end }}
{{- end }}
{{- range $upstream := (index .root.Values.callGraph .name) }}
- name: {{ printf "%s_ADDRESS" (upper $upstream) }}
  value: {{ include "mercato.upstreamAddress" (dict "root" $.root "name" $upstream) | quote }}
{{- end }}
{{- if $s.kek }}
{{- $kekSecret := include "mercato.kekSecret" .root }}
- name: IDENTITY_KEK
  valueFrom:
    secretKeyRef:
      name: {{ $kekSecret }}
      key: kek
- name: IDENTITY_PREVIOUS_KEKS
  valueFrom:
    secretKeyRef:
      name: {{ $kekSecret }}
      key: previous
      optional: true
{{- end }}
{{- if $s.jwt }}
- name: JWT_ISSUER
  value: {{ .root.Values.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ .root.Values.jwt.audience | quote }}
{{- end }}
{{- range $key, $value := $s.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Egress every Mercato pod needs beyond its edges: istiod (sidecar xDS and certificates) and the
external endpoints (Postgres, NATS, OTLP collector) listed in networkPolicy.externalEgress. */}}
{{- define "mercato.commonEgress" -}}
{{- if .Values.istio.enabled }}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.istio.istiodNamespace }}
  ports:
    - { port: 15012, protocol: TCP }
    - { port: 15014, protocol: TCP }
{{- end }}
{{- range .Values.networkPolicy.externalEgress }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
  ports:
    {{- range .ports }}
    - { port: {{ . }}, protocol: TCP }
    {{- end }}
{{- end }}
{{- end -}}

{{/* The Secret holding identity's KEK: the one given, or the one the chart generates. */}}
{{- define "mercato.kekSecret" -}}
{{- if .Values.signingKeyKek.existingSecret -}}
{{- .Values.signingKeyKek.existingSecret -}}
{{- else if .Values.signingKeyKek.generate -}}
{{- printf "%s-identity-kek" (include "mercato.fullname" .) -}}
{{- else -}}
{{- fail "signingKeyKek.existingSecret is required (a Secret with key kek: <id>:<base64 of 32 bytes>), or set signingKeyKek.generate=true" -}}
{{- end -}}
{{- end -}}
