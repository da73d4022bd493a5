"""A small test chart written into a temporary directory (and packaged with Helm's own packager)."""

from __future__ import annotations

from pathlib import Path

import helm_python

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  namespace: {{ .Release.Namespace }}
  labels:
    replicas-kind: {{ kindOf .Values.replicas | quote }}
spec:
  replicas: {{ .Values.replicas }}
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: GREETING
              value: {{ .Values.greeting | quote }}
            - name: FLAG_KIND
              value: {{ kindOf .Values.flag | quote }}
---
# Source comments and empty documents are fine
"""

INGRESS = """\
{{- if .Values.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}-web
spec:
  rules:
    {{- range .Values.ingress.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ . }}
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
          {{- end }}
    {{- end }}
{{- end }}
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
spec:
  ports: [{port: 80}]
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .Release.Name }}-web
  annotations:
    kube-version: {{ .Capabilities.KubeVersion.Version | quote }}
{{- end }}
"""

VALUES = """\
replicas: 1
image:
  repository: nginx
  tag: "1.25"
greeting: hello
flag: false
ingress:
  enabled: false
  hosts:
    - host: default.example.com
      paths: [/]
"""

TEST_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
"""

HOOK_JOB = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
"""


def write_chart(root: Path, name: str = "web", version: str = "0.1.0") -> Path:
    chart = root / name
    (chart / "templates" / "tests").mkdir(parents=True)
    (chart / "crds").mkdir()
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "values.yaml").write_text(VALUES)
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    (chart / "templates" / "ingress.yaml").write_text(INGRESS)
    (chart / "templates" / "service.yaml").write_text(SERVICE)
    (chart / "templates" / "hook.yaml").write_text(HOOK_JOB)
    (chart / "templates" / "NOTES.txt").write_text("Thanks for installing {{ .Release.Name }}\n")
    (chart / "templates" / "_helpers.tpl").write_text('{{- define "web.name" }}web{{ end }}\n')
    (chart / "templates" / "tests" / "test-connection.yaml").write_text(TEST_POD)
    (chart / "crds" / "widgets.yaml").write_text(CRD)
    return chart


def package_chart(chart: Path, destination: Path) -> bytes:
    destination.mkdir(parents=True, exist_ok=True)
    return Path(helm_python.package(chart, destination=destination)).read_bytes()
