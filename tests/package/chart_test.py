#!/usr/bin/python3
"""The Helm chart renders both layouts (tests/package/helm_render.py) and each passes k8s_validate.

Usage: chart_test.py CHART_DIR. Also checks the renderer refuses what it does not know, so a chart
that drifts out of the checked subset fails here rather than renders wrong.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helm_render  # noqa: E402
import k8s_validate  # noqa: E402

failures = 0


def check(name, ok, detail=""):
    global failures
    print(("pass " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)), flush=True)
    failures += 0 if ok else 1


chart = sys.argv[1]
cases = {
    "sidecar (default values)": ([], {"ConfigMap", "Secret", "Deployment"}),
    "central": (["layout=central"], {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget",
                                     "HorizontalPodAutoscaler", "ServiceMonitor"}),
    "central without HPA and ServiceMonitor": (
        ["layout=central", "central.hpa.enabled=false", "central.serviceMonitor.enabled=false"],
        {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"}),
}
for label, (sets, kinds) in cases.items():
    try:
        text = helm_render.render_chart(chart, sets, release="pgf")
    except helm_render.TemplateError as e:
        check(f"{label}: renders", False, e)
        continue
    docs, errors = k8s_validate.validate([(label, text)])
    check(f"{label}: valid against the API models", not errors, "\n".join(errors))
    check(f"{label}: kinds {sorted(kinds)}", {d["kind"] for d in docs} == kinds, sorted(d["kind"] for d in docs))
    sleep = [c for d in docs if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
             if c["name"] == "pgfunnel"]
    check(f"{label}: one pgfunnel container", len(sleep) == 1, len(sleep))

# A misspelt value and syntax outside the subset are errors, not empty output.
for label, template in (("a value values.yaml lacks", "x: {{ .Values.nope }}"),
                        ("range", "{{ range .Values.config }}{{ end }}"),
                        ("an unknown function", "{{ upper .Values.layout }}")):
    try:
        helm_render.Renderer({"Values": {"layout": "sidecar", "config": {}}}, "t").render(helm_render.parse(template, "t"))
        check(f"the renderer refuses {label}", False, "rendered")
    except helm_render.TemplateError:
        check(f"the renderer refuses {label}", True)
try:
    helm_render.render_chart(chart, ["layuot=central"])
    check("--set of a key values.yaml lacks is refused", False, "rendered")
except helm_render.TemplateError:
    check("--set of a key values.yaml lacks is refused", True)
print("all checks passed" if not failures else f"{failures} check(s) failed")
sys.exit(1 if failures else 0)
