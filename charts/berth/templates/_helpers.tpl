{{/*
Name of every object of the release: the release name, or `<release>-berth` when it does not
already say berth. Service names must be DNS-1035 labels (start with a letter).
*/}}
{{- define "berth.fullname" -}}
{{- $name := .Values.fullnameOverride | default (ternary .Release.Name (printf "%s-berth" .Release.Name) (contains "berth" .Release.Name)) -}}
{{- if regexMatch "^[0-9]" $name -}}
{{- $name = printf "b-%s" $name -}}
{{- end -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "berth.selectorLabels" -}}
app.kubernetes.io/name: berth
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "berth.labels" -}}
{{ include "berth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | quote }}
{{- end -}}

{{- define "berth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "berth.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The Secret berth's credentials come from; the chart refuses to render without one. */}}
{{- define "berth.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.create -}}
{{- include "berth.fullname" . -}}
{{- else -}}
{{- fail "berth needs its credentials from a Secret: set secrets.existingSecret to the name of one you created (keys APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, …), or secrets.create=true with secrets.values for a quick start" -}}
{{- end -}}
{{- end -}}

{{/* "true" when the kubernetes target is on (berth then talks to the API server). */}}
{{- define "berth.kubernetesTarget" -}}
{{- if has "kubernetes" (splitList "," .Values.config.targets) -}}true{{- end -}}
{{- end -}}

{{/* "true" in SQLite mode (no PostgreSQL). */}}
{{- define "berth.sqlite" -}}
{{- if eq .Values.database.type "sqlite" -}}true{{- end -}}
{{- end -}}

{{/*
The ClusterRole's rules: files/rbac-rules.yaml (written with berth's default names), with the
default deployer names replaced by the configured ones. With the deployer `off` the rules naming
the deployer account go (helm then runs as berth; see clusterrolebinding.yaml).
*/}}
{{- define "berth.rbacRules" -}}
{{- $source := .Files.Get "files/rbac-rules.yaml" | fromYaml -}}
{{- $deployer := include "berth.deployer" . -}}
{{- $names := dict "berth-deployer" $deployer "admin" .Values.config.kube.deployerRole -}}
{{- $rules := list -}}
{{- range $source.rules -}}
{{- $rule := deepCopy . -}}
{{- $namesDeployer := and (hasKey $rule "resourceNames") (has "berth-deployer" ($rule.resourceNames | default list)) -}}
{{- if not (and $namesDeployer (eq $deployer "off")) -}}
{{- if hasKey $rule "resourceNames" -}}
{{- $mapped := list -}}
{{- range $rule.resourceNames -}}
{{- $mapped = append $mapped (get $names . | default .) -}}
{{- end -}}
{{- $_ := set $rule "resourceNames" $mapped -}}
{{- end -}}
{{- $rules = append $rules $rule -}}
{{- end -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}

{{/* Cluster-scoped objects carry the namespace too: two releases of one name in two namespaces must not collide. */}}
{{- define "berth.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "berth.fullname" .) -}}
{{- end -}}

{{/* Keys berth cannot start without, given what is enabled (space-separated). */}}
{{- define "berth.requiredSecretKeys" -}}
{{- $keys := list -}}
{{- if .Values.github.enabled -}}{{- $keys = concat $keys (list "APP_ID" "PRIVATE_KEY" "WEBHOOK_SECRET") -}}{{- end -}}
{{- if .Values.gitee.enabled -}}{{- $keys = append $keys "GITEE_TOKEN" -}}{{- end -}}
{{- if .Values.config.harborUrl -}}{{- $keys = append $keys "BERTH_HARBOR_PASSWORD" -}}{{- end -}}
{{- join " " $keys -}}
{{- end -}}

{{/* Keys read when the Secret holds them. */}}
{{- define "berth.optionalSecretKeys" -}}
{{- $keys := list "BERTH_REGISTRY_PASSWORD" -}}
{{- if .Values.github.enabled -}}{{- $keys = concat $keys (list "GITHUB_CLIENT_ID" "GITHUB_CLIENT_SECRET") -}}{{- end -}}
{{- if .Values.gitee.enabled -}}{{- $keys = concat $keys (list "GITEE_WEBHOOK_SECRET" "GITEE_WEBHOOK_SECRETS") -}}{{- end -}}
{{- join " " $keys -}}
{{- end -}}

{{/* berth's plain settings as container env entries (secrets are added by deployment.yaml). */}}
{{- define "berth.env" -}}
{{- $c := .Values.config -}}
{{- $env := dict
  "NODE_ENV" "production"
  "HOST" "0.0.0.0"
  "PORT" (toString .Values.port)
  "HOME" "/tmp"
  "LOG_LEVEL" $c.logLevel
  "BERTH_TARGETS" $c.targets
  "BERTH_PUBLIC_URL" (include "berth.publicUrl" .)
  "BERTH_PREVIEW_DOMAIN" $c.previewDomain
  "BERTH_INSTANCE" $c.instance
  "BERTH_CONCURRENCY" (toString $c.concurrency)
  "BERTH_REGISTRY" $c.registry
  "BERTH_REGISTRY_USERNAME" $c.registryUsername
  "BERTH_HARBOR_URL" $c.harborUrl
  "BERTH_HARBOR_USERNAME" $c.harborUsername
  "DOCKER_HOST" $c.dockerHost
  "BERTH_RETENTION_DAYS" (toString $c.retentionDays)
-}}
{{- if include "berth.sqlite" . -}}
{{- $_ := set $env "BERTH_DATA_DIR" "/data" -}}
{{- end -}}
{{- if include "berth.kubernetesTarget" . -}}
{{- if .Values.helmBinary.enabled -}}
{{- $_ := set $env "BERTH_HELM_BIN" "/opt/helm/helm" -}}
{{- end -}}
{{- $_ := merge $env (dict
  "BERTH_KUBE_DEPLOYER" (include "berth.deployer" .)
  "BERTH_KUBE_DEPLOYER_ROLE" $c.kube.deployerRole
  "BERTH_KUBE_POD_SECURITY" $c.kube.podSecurity
  "BERTH_KUBE_NETWORK_POLICY" (include "berth.onOff" $c.kube.networkPolicy)
  "BERTH_KUBE_INGRESS_NAMESPACE" $c.kube.ingressNamespace
  "BERTH_KUBE_QUOTA" $c.kube.quota
  "BERTH_KUBE_LIMITS" $c.kube.limits) -}}
{{- end -}}
{{- if .Values.github.enabled -}}
{{- $_ := set $env "GHE_HOST" .Values.github.enterpriseHost -}}
{{- end -}}
{{- if .Values.gitee.enabled -}}
{{- $_ := merge $env (dict "GITEE_API_URL" .Values.gitee.apiUrl "GITEE_BOT_LOGIN" .Values.gitee.botLogin) -}}
{{- end -}}
{{- range $name, $value := .Values.extraEnv -}}
{{- $_ := set $env $name (toString $value) -}}
{{- end -}}
{{- range $name := keys $env | sortAlpha -}}
{{- $value := get $env $name -}}
{{- if ne $value "" }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* BERTH_PUBLIC_URL: config.publicUrl, else the Ingress's host. */}}
{{- define "berth.publicUrl" -}}
{{- if .Values.config.publicUrl -}}
{{- .Values.config.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" (ne .Values.ingress.tls.secretName "")) .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/*
BERTH_KUBE_DEPLOYER. An unquoted `off` in a values file is YAML 1.1's false (helm reads values as
YAML 1.1); the schema allows only false as a boolean here, and it means off.
*/}}
{{- define "berth.deployer" -}}
{{- $d := .Values.config.kube.deployer -}}
{{- if kindIs "bool" $d -}}off{{- else -}}{{ $d }}{{- end -}}
{{- end -}}

{{/* A setting that may be on/off: unquoted on/off arrive as YAML 1.1 booleans. */}}
{{- define "berth.onOff" -}}
{{- if kindIs "bool" . -}}{{ ternary "on" "off" . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}
