{{/* Names are those of config/default: kustomize's namePrefix access-operator-. */}}
{{- define "access-operator.name" -}}access-operator-{{ . }}{{- end }}

{{/* The manager's ServiceAccount as the API server names it (the admission policies match it). */}}
{{- define "access-operator.serviceAccountUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:access-operator-controller-manager
{{- end }}

{{/* Labels of every object: config/default's, then Helm's own. */}}
{{- define "access-operator.labels" -}}
app.kubernetes.io/name: access-operator
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "access-operator.selectorLabels" -}}
app.kubernetes.io/name: access-operator
control-plane: controller-manager
{{- end }}

{{- define "access-operator.image" -}}
{{- if .Values.image.digest -}}
{{- if not (hasPrefix "sha256:" .Values.image.digest) -}}
{{- fail (printf "image.digest: %q is not a digest; allowed: sha256:<64 hex digits>" .Values.image.digest) -}}
{{- end -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
access-operator.fromFile: the YAML documents of a file under files/ (copied from config/ by
`make manifests`, so the chart cannot drift from it), with config/default's name prefix, this
chart's labels, and the release namespace where namespaced is true. The files are not templates:
their CEL and PromQL stay as written. The manager's ServiceAccount user is renamed for the
release namespace. Arguments: (dict "root" $ "file" "files/x.yaml" "namespaced" false).
*/}}
{{- define "access-operator.fromFile" -}}
{{- $root := .root -}}
{{- $text := $root.Files.Get .file | replace "system:serviceaccount:access-operator-system:access-operator-controller-manager" (include "access-operator.serviceAccountUser" $root) -}}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" $text -1 }}
{{- $obj := fromYaml $doc -}}
{{- if $obj }}
{{- $_ := set $obj.metadata "name" (include "access-operator.name" $obj.metadata.name) -}}
{{- $labels := merge (include "access-operator.labels" $root | fromYaml) ($obj.metadata.labels | default dict) -}}
{{- $_ := set $obj.metadata "labels" $labels -}}
{{- if $.namespaced }}
{{- $_ := set $obj.metadata "namespace" $root.Release.Namespace -}}
{{- end }}
{{- if and (eq $obj.kind "ValidatingAdmissionPolicyBinding") $obj.spec.policyName }}
{{- $_ := set $obj.spec "policyName" (include "access-operator.name" $obj.spec.policyName) -}}
{{- end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end }}
