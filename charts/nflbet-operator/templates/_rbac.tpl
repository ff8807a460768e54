{{/*
The operator's permissions on the objects it watches and creates: one rule per purpose. With
watchNamespaces empty they form a ClusterRole bound cluster-wide; otherwise a Role and RoleBinding
in each watched namespace and nothing cluster-wide. There is no blanket rule for Secrets: the
operator wires secret references into pod specs without reading them; the only Secrets it reads
are the AlertRoute receivers named in notifications.secretNames, for its own notifications.
*/}}
{{- define "nflbet-operator.rules" -}}
# Watch the nflbet custom resources (the operator never writes their spec).
- apiGroups: ["betting.nflbet.dev"]
  resources: ["sportsbooks", "models", "alertroutes"]
  verbs: ["get", "list", "watch"]
# Report status (server-side apply on the status subresource). Also what the operator grants each
# scraper's own Role (get/patch on sportsbooks/status for its heartbeat): RBAC only lets it grant
# permissions it holds itself.
- apiGroups: ["betting.nflbet.dev"]
  resources: ["sportsbooks/status", "models/status", "alertroutes/status"]
  verbs: ["get", "patch"]
# Children carry controller owner references with blockOwnerDeletion; clusters running the
# OwnerReferencesPermissionEnforcement admission plugin (e.g. OpenShift) require this.
- apiGroups: ["betting.nflbet.dev"]
  resources: ["sportsbooks/finalizers", "models/finalizers", "alertroutes/finalizers"]
  verbs: ["update"]
# The scraper and model workloads.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# A Model's replay gate: one Job per gated candidate (server-side apply, deleted once its result
# is recorded), and its pod, whose containers' termination messages are the two reports.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list"]
# Each workload's metrics Service and its ServiceAccount.
- apiGroups: [""]
  resources: ["services", "serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Each workload's Role and RoleBinding (the heartbeat permission on its own status).
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Alerts, scrape configs and alert routing for prometheus-operator (ignored when its CRDs are absent).
- apiGroups: ["monitoring.coreos.com"]
  resources: ["prometheusrules", "servicemonitors", "alertmanagerconfigs"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Events on the custom resources; kube-rs' Recorder creates an event, then patches repeats into a series.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- with .Values.notifications.secretNames }}
# The operator's own notifications (model rolled back, sportsbook stopped): read only the
# AlertRoute receiver Secrets named here, at send time.
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: {{ toJson . }}
  verbs: ["get"]
{{- end }}
{{- end }}
